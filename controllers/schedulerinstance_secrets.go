package controllers

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/backoff"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsource"
	"github.com/rsched/rsched/internal/vault"
)

// Retry intervals: retryShort for conditions that resolve by themselves (a Secret being
// created), retryLong for what needs a person; Vault failures back off by vaultBackoff.
const (
	retryShort     = 10 * time.Second
	retryLong      = 5 * time.Minute
	defaultRefresh = time.Hour
)

// vaultBackoff is the wait after consecutive failed Vault reads (status.vaultFailures).
var vaultBackoff = backoff.Exponential{Base: 5 * time.Second, Max: 5 * time.Minute}

// bootstrapKeys are the keys of a first keyring: the names a KeyRotationPolicy's samples use,
// so its rotations continue their versions ("jwt-1" → "jwt-2").
var bootstrapKeys = []rschedv1.RotatedKey{
	{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS512},
	{Name: "fields", Purpose: rschedv1.KeyPurposeEncryption, Algorithm: rschedv1.AlgorithmAES256GCM},
}

// ensureKeyring writes a first keyring when the instance has none, so its servers can start.
// An existing keyring is never touched here: the KeyRotationPolicy owns its contents.
func (r *SchedulerInstanceReconciler) ensureKeyring(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) error {
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.KeyringSecretName(si)}, sec)
	if missing, err := notFoundOrErr(err); err != nil {
		return fmt.Errorf("keyring Secret: %w", err)
	} else if !missing {
		if f, err := keyring.Decode(sec.Data[builders.KeyringKey]); err == nil {
			st.keyVersion = keyrotation.KeyVersion(f) // the key version, as the policy counts it
		}
		st.keyRollout = sec.Annotations[rschedv1.RolloutVersionAnnotation]
		return nil
	}
	if si.Status.KeyVersion > 0 {
		// The instance ran on a keyring that is gone. A new one would invalidate every token and
		// every encrypted field, and reuse key ids: a KeyRotationPolicy with storage.vault
		// restores it, otherwise a person must (from a backup).
		msg := fmt.Sprintf("The keyring Secret %q is missing; restore it (a KeyRotationPolicy with storage.vault does): a new keyring would invalidate every token and encrypted field", builders.KeyringSecretName(si))
		if c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionReady); c == nil || c.Reason != rschedv1.ReasonKeyringMissing {
			r.event(si, corev1.EventTypeWarning, rschedv1.ReasonKeyringMissing, "Read", "%s", msg)
		}
		return outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonKeyringMissing, msg, retryShort)
	}
	f, err := keyrotation.Stage(nil, bootstrapKeys, r.Clock.Now())
	if err != nil {
		return err
	}
	data, err := keyring.Marshal(f)
	if err != nil {
		return err
	}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: builders.KeyringSecretName(si), Namespace: si.Namespace, Labels: builders.Labels(si)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{builders.KeyringKey: data},
	}
	if err := r.converge(ctx, si, sec, builders.Labels(si), func() error { return nil }); err != nil {
		return err
	}
	st.keyVersion = keyrotation.KeyVersion(f)
	return nil
}

// syncSecrets copies the database URL and the application secrets into the instance's own
// Secrets (labelled as ours, so the cache holds them and nothing else). Vault is read when the
// refresh interval is due, the spec changed, or a Secret is missing; when Vault fails, the last
// good Secrets stay in place, the failure count grows in status and the retry backs off.
// It reads as gather (gatherSecretSync) → decide (decideSecretSync) → act.
func (r *SchedulerInstanceReconciler) syncSecrets(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) error {
	now := r.Clock.Now()
	s, err := r.gatherSecretSync(ctx, si, st)
	if err != nil {
		return err
	}
	switch decideSecretSync(s, now) {
	case syncInBackoff:
		// Still inside the backoff of the last failure, and nothing in the spec changed: the
		// conditions of that failure stand.
		st.lastGood = true
		st.staleSecret = s.usesVault && !conditionTrue(si, rschedv1.ConditionVaultReachable)
		return outcome.WaitFor(s.retryAt.Sub(now), "waiting out the backoff after a failed read")
	case syncUpToDate:
		st.secretsDone = true
		st.requeueAfter = s.lastSync.Add(s.refresh).Sub(now)
		return nil
	}
	return r.refreshSecrets(ctx, si, st, s, now)
}

// secretSyncState is what syncSecrets gathers before it decides: which of the instance's
// Secrets exist, what status says of the last sync, and the backoff of a failed one.
type secretSyncState struct {
	hasDatabaseSecret bool
	// wantsAppSecret: spec.vault.secrets lists paths, so the instance has an application Secret.
	wantsAppSecret bool
	hasAppSecret   bool
	// usesVault: a source of the instance is in Vault.
	usesVault   bool
	synced      bool // SecretsSynced is True
	specChanged bool // the spec changed since status was last written
	lastSync    *metav1.Time
	refresh     time.Duration
	retryAt     time.Time // the end of a failed read's backoff; zero when there is none
}

// gatherSecretSync reads the instance's own Secrets (the database Secret's existence already
// lets the server run on the last good secrets) and what status and the backoff say.
func (r *SchedulerInstanceReconciler) gatherSecretSync(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) (secretSyncState, error) {
	s := secretSyncState{
		wantsAppSecret: si.Spec.Vault != nil && len(si.Spec.Vault.Secrets) > 0,
		usesVault:      si.Spec.Vault != nil && (si.Spec.Database.Vault != nil || len(si.Spec.Vault.Secrets) > 0),
		synced:         conditionTrue(si, rschedv1.ConditionSecretsSynced),
		specChanged:    observedStale(si),
		lastSync:       si.Status.LastSecretSyncTime,
		// Every source is read again each refresh interval (Vault's, or 1h for Kubernetes
		// Secrets, so a rotated database password in the user's Secret is picked up too).
		refresh: defaultRefresh,
	}
	if si.Spec.Vault != nil && si.Spec.Vault.RefreshInterval != nil {
		s.refresh = si.Spec.Vault.RefreshInterval.Duration
	}
	dbSecret, err := r.ownSecret(ctx, si, builders.DatabaseSecretName(si))
	if err != nil {
		return s, err
	}
	if s.wantsAppSecret {
		appSecret, err := r.ownSecret(ctx, si, builders.AppSecretName(si))
		if err != nil {
			return s, err
		}
		s.hasAppSecret = appSecret != nil
	}
	if dbSecret != nil {
		s.hasDatabaseSecret = true
		st.lastGood = true
		st.databaseRevision = dbSecret.Annotations[builders.RevisionAnnotation]
	}
	if at, ok := r.retryAt.Load(types.NamespacedName{Namespace: si.Namespace, Name: si.Name}); ok {
		s.retryAt = at.(time.Time)
	}
	return s, nil
}

// secretSyncAction is what syncSecrets does this time.
type secretSyncAction int

const (
	syncUpToDate  secretSyncAction = iota // nothing is due: requeue for the next refresh
	syncInBackoff                         // due, but inside a failed read's backoff: wait it out
	syncRefresh                           // read the sources and write the Secrets
)

// refreshCheck is one reason the sources must be read again now.
type refreshCheck struct {
	name string
	due  func(s secretSyncState, now time.Time) bool
}

// refreshChecks are the reasons a refresh is due, in order; the first that holds names it.
var refreshChecks = []refreshCheck{
	{"database Secret missing", func(s secretSyncState, _ time.Time) bool { return !s.hasDatabaseSecret }},
	{"application Secret missing", func(s secretSyncState, _ time.Time) bool { return s.wantsAppSecret && !s.hasAppSecret }},
	{"last sync failed", func(s secretSyncState, _ time.Time) bool { return !s.synced }},
	{"spec changed", func(s secretSyncState, _ time.Time) bool { return s.specChanged }},
	{"never synced", func(s secretSyncState, _ time.Time) bool { return s.lastSync == nil }},
	{"refresh interval elapsed", func(s secretSyncState, now time.Time) bool { return !now.Before(s.lastSync.Add(s.refresh)) }},
}

// refreshDue names the first check that makes a refresh due, or "" when none does.
func refreshDue(s secretSyncState, now time.Time) string {
	for _, c := range refreshChecks {
		if c.due(s, now) {
			return c.name
		}
	}
	return ""
}

// inBackoff: a failed read's backoff runs, the last good Secrets are in place and the spec is
// unchanged (a spec change is read at once).
func inBackoff(s secretSyncState, now time.Time) bool {
	return !s.retryAt.IsZero() && s.hasDatabaseSecret && !s.specChanged && now.Before(s.retryAt)
}

// decideSecretSync: up to date unless a refresh is due; a due refresh waits out a backoff.
func decideSecretSync(s secretSyncState, now time.Time) secretSyncAction {
	switch {
	case refreshDue(s, now) == "":
		return syncUpToDate
	case inBackoff(s, now):
		return syncInBackoff
	}
	return syncRefresh
}

// refreshSecrets reads every source and writes the instance's Secrets; a failed read keeps the
// last good ones.
func (r *SchedulerInstanceReconciler) refreshSecrets(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder, s secretSyncState, now time.Time) error {
	var vc *vault.Client
	var err error
	if s.usesVault {
		if vc, err = r.vaultClient(ctx, si); err != nil {
			return r.vaultFailed(si, st, secretsource.VaultFailure(rschedv1.ConditionSecretsSynced, err))
		}
	}
	dbURL, err := r.databaseURL(ctx, si, vc)
	if err != nil {
		return r.vaultFailed(si, st, err)
	}
	app, err := readAppSecrets(ctx, si, vc)
	if err != nil {
		return r.vaultFailed(si, st, err)
	}
	rev, err := r.writeOwnSecret(ctx, si, builders.DatabaseSecretName(si), map[string][]byte{builders.DatabaseURLKey: []byte(dbURL)}, true)
	if err != nil {
		return err
	}
	st.databaseRevision, st.lastGood = rev, true
	if s.wantsAppSecret {
		if _, err := r.writeOwnSecret(ctx, si, builders.AppSecretName(si), app, false); err != nil {
			return err
		}
	} else if err := r.deleteOwned(ctx, si, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: builders.AppSecretName(si), Namespace: si.Namespace}}); err != nil {
		return err // the application secrets are no longer wanted: their data must not linger
	}
	if s.usesVault && si.Status.VaultFailures > 0 {
		r.event(si, corev1.EventTypeNormal, "VaultRecovered", "Read", "Secrets read from Vault again after %d failed attempts", si.Status.VaultFailures)
	}
	r.retryAt.Delete(types.NamespacedName{Namespace: si.Namespace, Name: si.Name})
	st.secretsSynced(s.usesVault, now)
	st.secretsDone = true
	st.requeueAfter = s.refresh
	return nil
}

// readAppSecrets reads spec.vault.secrets' paths into one map (later paths win on a shared key,
// as documented); nothing without a Vault client.
func readAppSecrets(ctx context.Context, si *rschedv1.SchedulerInstance, vc *vault.Client) (map[string][]byte, error) {
	app := map[string][]byte{}
	if vc == nil || si.Spec.Vault == nil {
		return app, nil
	}
	for _, p := range si.Spec.Vault.Secrets {
		kv, err := vc.ReadKV(ctx, p.Mount, p.Path)
		if err != nil {
			return nil, secretsource.VaultFailure(rschedv1.ConditionSecretsSynced, fmt.Errorf("secret %s/%s: %w", orDefault(p.Mount, "secret"), p.Path, err))
		}
		for k, v := range kv.Data {
			app[k] = []byte(v)
		}
	}
	return app, nil
}

// observedStale is true when the spec changed since status was last written.
func observedStale(si *rschedv1.SchedulerInstance) bool {
	return si.Status.ObservedGeneration != si.Generation
}

// databaseURL reads the database URL from its source.
func (r *SchedulerInstanceReconciler) databaseURL(ctx context.Context, si *rschedv1.SchedulerInstance, vc *vault.Client) (string, error) {
	db := si.Spec.Database
	switch {
	case db.URLSecretRef != nil:
		return secretsource.Key(ctx, r.APIReader, si.Namespace, *db.URLSecretRef, "spec.database.urlSecretRef")
	case db.Vault != nil && vc != nil:
		v, _, err := vc.ReadKVKey(ctx, db.Vault.Mount, db.Vault.Path, db.Vault.Key)
		if err != nil {
			return "", secretsource.VaultFailure(rschedv1.ConditionSecretsSynced, fmt.Errorf("database URL at %s/%s: %w", orDefault(db.Vault.Mount, "secret"), db.Vault.Path, err))
		}
		return v, nil
	case db.Vault != nil:
		return "", outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonVaultNotConfigured, "spec.database.vault needs spec.vault", 0)
	}
	return "", outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonSecretNotFound, "spec.database names no source", 0)
}

// vaultClient is the cached Vault client of the instance's spec.vault identity.
func (r *SchedulerInstanceReconciler) vaultClient(ctx context.Context, si *rschedv1.SchedulerInstance) (*vault.Client, error) {
	return secretsource.VaultClient(ctx, r.APIReader, r.Vault, si)
}

// TokenSource returns ServiceAccount tokens through the TokenRequest API, bound to the audiences
// Vault's kubernetes auth role expects and valid for ten minutes (only for the login).
func TokenSource(c client.Client) vault.TokenSource {
	return func(ctx context.Context, serviceAccount string, audiences []string) (string, error) {
		ns, name, ok := strings.Cut(serviceAccount, "/")
		if !ok || ns == "" || name == "" {
			return "", fmt.Errorf("service account %q is not namespace/name", serviceAccount)
		}
		expiry := int64(600)
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &expiry}}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
			return "", err
		}
		return tr.Status.Token, nil
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// vaultFailed records a source that could not be read: a reference a person must fix
// (sourceMissing), or a failed Vault attempt: the last good Secrets stay, the retry backs off by
// status.vaultFailures. Any other error (the API server's) is returned as it is.
func (r *SchedulerInstanceReconciler) vaultFailed(si *rschedv1.SchedulerInstance, st *statusBuilder, err error) error {
	kind, o := outcome.Of(err)
	switch {
	case kind == outcome.Blocked:
		return r.sourceMissing(si, st, o)
	case kind != outcome.Failed || o.Reason == "":
		return err
	}
	failures := si.Status.VaultFailures + 1
	o.After = vaultBackoff.After(int(failures))
	st.vaultFailed(o.Reason, o.Message, failures)
	r.retryAt.Store(types.NamespacedName{Namespace: si.Namespace, Name: si.Name}, r.Clock.Now().Add(o.After))
	if failures == 1 || failures%10 == 0 {
		r.event(si, corev1.EventTypeWarning, o.Reason, "Read", "%s; keeping the last good Secrets, retrying with backoff", o.Message)
	}
	return o
}

// sourceMissing records a reference in the spec that cannot be followed (a person must act):
// SecretsSynced says which, with a Warning event when that changes.
func (r *SchedulerInstanceReconciler) sourceMissing(si *rschedv1.SchedulerInstance, st *statusBuilder, o *outcome.Outcome) error {
	o.Condition = rschedv1.ConditionSecretsSynced
	if !st.sameSecretCondition(o.Reason, o.Message) {
		r.event(si, corev1.EventTypeWarning, o.Reason, "Read", "%s", o.Message)
	}
	st.secretsMissing(o.Reason, o.Message)
	o.After = retryShort
	return o
}

// ownSecret returns the instance's Secret name, or nil when it does not exist yet.
func (r *SchedulerInstanceReconciler) ownSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: name}, sec)
	if missing, err := notFoundOrErr(err); err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", name, err)
	} else if missing {
		return nil, nil
	}
	return sec, nil
}

// writeOwnSecret converges one of the instance's Secrets to data (no write when equal). With
// counted, a change of the data also increments the Secret's revision annotation, which it
// returns.
func (r *SchedulerInstanceReconciler) writeOwnSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string, data map[string][]byte, counted bool) (string, error) {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: si.Namespace}}
	err := r.converge(ctx, si, sec, builders.Labels(si), func() error {
		sec.Type = corev1.SecretTypeOpaque
		changed := !maps.EqualFunc(sec.Data, data, func(a, b []byte) bool { return string(a) == string(b) })
		if changed {
			sec.Data = data
		}
		if counted {
			if sec.Annotations == nil {
				sec.Annotations = map[string]string{}
			}
			rev, _ := strconv.Atoi(sec.Annotations[builders.RevisionAnnotation])
			if changed || rev == 0 {
				sec.Annotations[builders.RevisionAnnotation] = strconv.Itoa(rev + 1)
			}
		}
		sec.StringData = nil
		return nil
	})
	return sec.Annotations[builders.RevisionAnnotation], err
}
