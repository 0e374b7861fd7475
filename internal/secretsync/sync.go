package secretsync

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsource"
	"github.com/rsched/rsched/internal/vault"
)

// Retry after a reference in the spec that cannot be followed (a Secret being created, say).
const retrySourceMissing = 10 * time.Second

// DefaultRefresh is how often every source is read again without spec.vault.refreshInterval
// (also for a database URL in a Kubernetes Secret, so a rotated password is picked up).
const DefaultRefresh = time.Hour

// Writer writes the instance's own Secrets; the reconciler implements it.
type Writer interface {
	// WriteSecret converges the instance's Secret name to data (no write when equal). With
	// counted, a change of the data increments the Secret's revision annotation, returned.
	WriteSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string, data map[string][]byte, counted bool) (string, error)
	// DeleteSecret deletes the instance's Secret name if it exists and is the instance's.
	DeleteSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string) error
}

// EventFunc records an event on the instance; notes never carry secret values.
type EventFunc func(si *rschedv1.SchedulerInstance, typ, reason, action, note string, args ...any)

// Syncer copies one instance's secrets.
type Syncer struct {
	// Cache reads the instance's own Secrets (labelled, so the operator's cache holds them).
	Cache client.Reader
	// APIReader reads the Secrets the user names (not cached).
	APIReader client.Reader
	Vault     *vault.Factory
	Writer    Writer
	Event     EventFunc
}

// Result is what a sync found and did, for status and for the steps after it.
type Result struct {
	Action Action
	// LastGood: the instance's database Secret, and its database TLS Secret when it has one, exist
	// (now or before), so the server can run on them while their sources cannot be read.
	LastGood bool
	// Revision is the database Secret's revision counter (the pods roll when it changes).
	Revision string
	// UsesVault: a source of the instance is in Vault.
	UsesVault bool
	// Synced: the sources were read and the Secrets written now.
	Synced bool
	// Stale: the Secrets could not be refreshed from Vault; the server runs on the last good ones.
	Stale bool
	// Failures is status.vaultFailures after this sync (-1: unchanged).
	Failures int32
	// RequeueAfter is when the next refresh is due (0 when the sync did not get through).
	RequeueAfter time.Duration
}

// Gather reads the instance's own Secrets and what status says of the last sync and its backoff.
func (s *Syncer) Gather(ctx context.Context, si *rschedv1.SchedulerInstance) (State, error) {
	st := State{
		WantsAppSecret:         si.Spec.Vault != nil && len(si.Spec.Vault.Secrets) > 0,
		WantsDatabaseTLSSecret: wantsDatabaseTLS(si),
		UsesVault:              si.Spec.Vault != nil && (si.Spec.Database.Vault != nil || len(si.Spec.Vault.Secrets) > 0 || wantsDatabaseTLS(si)),
		Synced:                 meta.IsStatusConditionTrue(si.Status.Conditions, rschedv1.ConditionSecretsSynced),
		SpecChanged:            si.Status.ObservedGeneration != si.Generation,
		LastSync:               si.Status.LastSecretSyncTime,
		Refresh:                DefaultRefresh,
		RetryAt:                retryAt(si.Status.VaultFailures, si.Status.LastVaultFailureTime),
	}
	if si.Spec.Vault != nil && si.Spec.Vault.RefreshInterval != nil {
		st.Refresh = si.Spec.Vault.RefreshInterval.Duration
	}
	db, err := s.own(ctx, si, builders.DatabaseSecretName(si))
	if err != nil {
		return st, err
	}
	if db != nil {
		st.HasDatabaseSecret, st.Revision = true, db.Annotations[builders.RevisionAnnotation]
	}
	if st.WantsAppSecret {
		app, err := s.own(ctx, si, builders.AppSecretName(si))
		if err != nil {
			return st, err
		}
		st.HasAppSecret = app != nil
	}
	if st.WantsDatabaseTLSSecret {
		dbTLS, err := s.own(ctx, si, builders.DatabaseTLSSecretName(si))
		if err != nil {
			return st, err
		}
		st.HasDatabaseTLSSecret = dbTLS != nil
	}
	return st, nil
}

// own returns the instance's Secret name, or nil when it does not exist yet; a Secret of that
// name that the instance does not control is a NameConflict that halts the reconcile.
func (s *Syncer) own(ctx context.Context, si *rschedv1.SchedulerInstance, name string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	err := s.Cache.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading Secret %s: %w", name, err)
	case !metav1.IsControlledBy(sec, si):
		// Labelled like ours (anyone who can create a Secret can set a label) but not the
		// instance's: never read as its own, or the pods would run on someone else's secrets.
		return nil, secretsource.NameConflict("Secret", name).Halting()
	}
	return sec, nil
}

// Sync gathers, decides and acts. Its error is an outcome: Wait (inside a failed read's backoff),
// Blocked on SecretsSynced (a reference a person must fix), Failed with After (a Vault read
// failed: counted in Result.Failures, backed off); or an unexpected error.
func (s *Syncer) Sync(ctx context.Context, si *rschedv1.SchedulerInstance, now time.Time) (Result, error) {
	st, err := s.Gather(ctx, si)
	if err != nil {
		if kind, o := outcome.Of(err); kind == outcome.Blocked {
			s.Event(si, corev1.EventTypeWarning, o.Reason, "Adopt", "%s", o.Message)
		}
		return Result{Failures: -1}, err
	}
	res := Result{Action: Decide(st, now), LastGood: st.LastGood(), Revision: st.Revision, UsesVault: st.UsesVault, Failures: -1}
	switch res.Action {
	case InBackoff:
		// Still inside the backoff of the last failure, and nothing in the spec changed: the
		// conditions of that failure stand.
		res.Stale = st.UsesVault && !meta.IsStatusConditionTrue(si.Status.Conditions, rschedv1.ConditionVaultReachable)
		return res, outcome.WaitFor(st.RetryAt.Sub(now), "waiting out the backoff after a failed read")
	case UpToDate:
		res.RequeueAfter = st.LastSync.Add(st.Refresh).Sub(now)
		return res, nil
	}
	return s.refresh(ctx, si, st, res)
}

// refresh reads every source and writes the instance's Secrets; a failed read, or a value that
// cannot be used, writes nothing and keeps the last good ones.
func (s *Syncer) refresh(ctx context.Context, si *rschedv1.SchedulerInstance, st State, res Result) (Result, error) {
	src, err := s.read(ctx, si, st.UsesVault)
	if err != nil {
		return s.failed(si, res, err)
	}
	rev, err := s.Writer.WriteSecret(ctx, si, builders.DatabaseSecretName(si), map[string][]byte{builders.DatabaseURLKey: []byte(src.databaseURL)}, true)
	if err != nil {
		return res, err
	}
	res.Revision = rev
	// Neither is counted: the server reads both kinds of file again while it runs (the
	// application secrets where it uses them, the database TLS files on every dial), so a new
	// value must not roll the pods.
	if err := s.writeOrDelete(ctx, si, builders.AppSecretName(si), src.app, st.WantsAppSecret); err != nil {
		return res, err
	}
	if err := s.writeOrDelete(ctx, si, builders.DatabaseTLSSecretName(si), src.databaseTLS, st.WantsDatabaseTLSSecret); err != nil {
		return res, err
	}
	res.LastGood = true
	if st.UsesVault && si.Status.VaultFailures > 0 {
		s.Event(si, corev1.EventTypeNormal, "VaultRecovered", "Read", "Secrets read from Vault again after %d failed attempts", si.Status.VaultFailures)
	}
	res.Synced, res.Failures, res.RequeueAfter = true, 0, st.Refresh
	return res, nil
}

// writeOrDelete writes the instance's Secret name when it is wanted and deletes it otherwise:
// secrets no longer wanted must not linger.
func (s *Syncer) writeOrDelete(ctx context.Context, si *rschedv1.SchedulerInstance, name string, data map[string][]byte, wanted bool) error {
	if wanted {
		_, err := s.Writer.WriteSecret(ctx, si, name, data, false)
		return err
	}
	return s.Writer.DeleteSecret(ctx, si, name)
}

// sources is what a refresh read: the database URL, the application secrets and the database
// TLS Secret's data (nil when spec.database.tls reads nothing from Vault).
type sources struct {
	databaseURL string
	app         map[string][]byte
	databaseTLS map[string][]byte
}

// read reads every source; the database TLS material comes back checked.
func (s *Syncer) read(ctx context.Context, si *rschedv1.SchedulerInstance, usesVault bool) (sources, error) {
	var src sources
	var vc *vault.Client
	if usesVault {
		var err error
		if vc, err = secretsource.VaultClient(ctx, s.APIReader, s.Vault, si); err != nil {
			return src, secretsource.VaultFailure(rschedv1.ConditionSecretsSynced, err)
		}
	}
	var err error
	if src.databaseURL, err = s.databaseURL(ctx, si, vc); err != nil {
		return src, err
	}
	if src.app, err = readAppSecrets(ctx, si, vc); err != nil {
		return src, err
	}
	src.databaseTLS, err = readDatabaseTLS(ctx, si, vc)
	return src, err
}

// failed records a source that could not be read: a reference a person must fix, or a failed
// Vault attempt (the last good Secrets stay; the retry backs off by the failure count). Any other
// error (the API server's) is returned as it is.
func (s *Syncer) failed(si *rschedv1.SchedulerInstance, res Result, err error) (Result, error) {
	kind, o := outcome.Of(err)
	switch {
	case kind == outcome.Blocked:
		o.Condition, o.After = rschedv1.ConditionSecretsSynced, retrySourceMissing
		if c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionSecretsSynced); c == nil || c.Reason != o.Reason || c.Message != o.Message {
			s.Event(si, corev1.EventTypeWarning, o.Reason, "Read", "%s", o.Message)
		}
		return res, o
	case kind != outcome.Failed || o.Reason == "":
		return res, err
	}
	res.Failures = si.Status.VaultFailures + 1
	res.Stale = true
	o.After = VaultBackoff.After(int(res.Failures))
	if res.Failures == 1 || res.Failures%10 == 0 {
		s.Event(si, corev1.EventTypeWarning, o.Reason, "Read", "%s; keeping the last good Secrets, retrying with backoff", o.Message)
	}
	return res, o
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

// databaseURL reads the database URL from its source.
func (s *Syncer) databaseURL(ctx context.Context, si *rschedv1.SchedulerInstance, vc *vault.Client) (string, error) {
	db := si.Spec.Database
	switch {
	case db.URLSecretRef != nil:
		return secretsource.Key(ctx, s.APIReader, si.Namespace, *db.URLSecretRef, "spec.database.urlSecretRef")
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

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
