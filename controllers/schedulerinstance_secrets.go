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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsync"
	"github.com/rsched/rsched/internal/vault"
)

// Retry intervals: retryShort for conditions that resolve by themselves (a Secret being
// created), retryLong for what needs a person; Vault failures back off by secretsync.VaultBackoff.
const (
	retryShort = 10 * time.Second
	retryLong  = 5 * time.Minute
)

// bootstrapKeys are the keys of a first keyring: the names a KeyRotationPolicy's samples use,
// so its rotations continue their versions ("jwt-1" → "jwt-2").
var bootstrapKeys = []rschedv1.RotatedKey{
	{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS512},
	{Name: "fields", Purpose: rschedv1.KeyPurposeEncryption, Algorithm: rschedv1.AlgorithmAES256GCM},
}

// ensureKeyring writes a first keyring when the instance has none, so its servers can start.
// An existing keyring is never touched here: the KeyRotationPolicy owns its contents.
func (r *SchedulerInstanceReconciler) ensureKeyring(ctx context.Context, si *rschedv1.SchedulerInstance) (instanceKeyring, error) {
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.KeyringSecretName(si)}, sec)
	if missing, err := notFoundOrErr(err); err != nil {
		return instanceKeyring{}, fmt.Errorf("keyring Secret: %w", err)
	} else if !missing {
		var kr instanceKeyring
		if f, err := keyring.Decode(sec.Data[builders.KeyringKey]); err == nil {
			kr.version = keyrotation.KeyVersion(f) // the key version, as the policy counts it
		}
		kr.rollout = sec.Annotations[rschedv1.RolloutVersionAnnotation]
		return kr, nil
	}
	if si.Status.KeyVersion > 0 {
		// Not in the cache, which holds only labelled Secrets: the instance's own keyring whose
		// labels someone removed is relabelled. Any other Secret of that name (a restore
		// without the labels, say) is reported as missing, as before: the cache must see it.
		sec.Name, sec.Namespace = builders.KeyringSecretName(si), si.Namespace
		if o, err := r.unseenConflict(ctx, si, sec, builders.Labels(si)); err != nil {
			return instanceKeyring{}, fmt.Errorf("keyring Secret: %w", err)
		} else if o != nil && o.Kind == outcome.Wait {
			return instanceKeyring{}, o
		}
		// The instance ran on a keyring that is gone. A new one would invalidate every token and
		// every encrypted field, and reuse key ids: a KeyRotationPolicy with storage.vault
		// restores it, otherwise a person must (from a backup).
		msg := fmt.Sprintf("The keyring Secret %q is missing; restore it (a KeyRotationPolicy with storage.vault does): a new keyring would invalidate every token and encrypted field", builders.KeyringSecretName(si))
		if c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionReady); c == nil || c.Reason != rschedv1.ReasonKeyringMissing {
			r.event(si, corev1.EventTypeWarning, rschedv1.ReasonKeyringMissing, "Read", "%s", msg)
		}
		return instanceKeyring{}, outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonKeyringMissing, msg, retryShort)
	}
	f, err := keyrotation.Stage(nil, bootstrapKeys, r.Clock.Now())
	if err != nil {
		return instanceKeyring{}, err
	}
	data, err := keyring.Marshal(f)
	if err != nil {
		return instanceKeyring{}, err
	}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: builders.KeyringSecretName(si), Namespace: si.Namespace, Labels: builders.Labels(si)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{builders.KeyringKey: data},
	}
	if err := r.converge(ctx, si, sec, builders.Labels(si), func() error { return nil }); err != nil {
		return instanceKeyring{}, err
	}
	return instanceKeyring{version: keyrotation.KeyVersion(f)}, nil
}

// instanceKeyring is what the instance's keyring Secret says: its key version (0 when it cannot
// be decoded) and the version a KeyRotationPolicy with rollout RollingRestart asks the pods to be
// restarted for ("" when none).
type instanceKeyring struct {
	version int64
	rollout string
}

// syncSecrets copies the instance's secrets from their sources into its own Secrets
// (internal/secretsync: gather → decide → act, the backoff in status) and records what it found.
func (r *SchedulerInstanceReconciler) syncSecrets(ctx context.Context, si *rschedv1.SchedulerInstance, st *statusBuilder) (secretsync.Result, error) {
	sync := secretsync.Syncer{Cache: r.Client, APIReader: r.APIReader, Vault: r.Vault, Writer: instanceSecrets{r}, Event: r.event}
	res, err := sync.Sync(ctx, si, st.now)
	st.recordSecrets(res, err)
	return res, err
}

// instanceSecrets writes the instance's own Secrets for secretsync, through converge (so a
// Secret of that name that is someone else's is a NameConflict, never overwritten).
type instanceSecrets struct{ r *SchedulerInstanceReconciler }

func (w instanceSecrets) WriteSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string, data map[string][]byte, counted bool) (string, error) {
	return w.r.writeOwnSecret(ctx, si, name, data, counted)
}

func (w instanceSecrets) DeleteSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name string) error {
	return w.r.deleteOwned(ctx, si, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: si.Namespace}})
}

// TokenSource returns ServiceAccount tokens through the TokenRequest API, bound to the audiences
// Vault's kubernetes auth role expects and valid for ten minutes (only for the login). The
// permission (create on serviceaccounts/token) is opt-in at install and not among the RBAC markers:
// the chart's rbac.serviceAccountTokenCreate or the kustomize component
// config/components/vault-kubernetes-auth grants it, with a ValidatingAdmissionPolicy that limits
// it to the instances' ServiceAccounts and to non-Kubernetes audiences. A refusal is
// vault.ErrTokenForbidden, which status names.
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
			if apierrors.IsForbidden(err) {
				return "", vault.ErrTokenForbidden
			}
			return "", err
		}
		return tr.Status.Token, nil
	}
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
