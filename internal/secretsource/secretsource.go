package secretsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/vault"
)

// Key reads one key of a Secret named in the instance's spec by field, through reader (the API
// server, not the cache: the operator caches only its own Secrets). A missing Secret or key is
// Blocked; any other error is returned as it is.
func Key(ctx context.Context, reader client.Reader, namespace string, ref rschedv1.SecretKeyRef, field string) (string, error) {
	sec := &corev1.Secret{}
	err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return "", outcome.BlockedOn("", rschedv1.ReasonSecretNotFound, fmt.Sprintf("Secret %q named by %s does not exist", ref.Name, field), 0)
	case err != nil:
		return "", fmt.Errorf("reading Secret %s named by %s: %w", ref.Name, field, err)
	}
	v, ok := sec.Data[ref.Key]
	if !ok || len(v) == 0 {
		return "", outcome.BlockedOn("", rschedv1.ReasonSecretKeyMissing, fmt.Sprintf("Secret %q named by %s has no key %q", ref.Name, field, ref.Key), 0)
	}
	return string(v), nil
}

// NameConflict is the block of an object of kind that bears one of the instance's names and is
// not controlled by it: never taken over, never read as the instance's own; Ready says
// NameConflict until it is renamed or removed, and it is looked at again every 10 s.
func NameConflict(kind, name string) *outcome.Outcome {
	return outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonNameConflict,
		fmt.Sprintf("%s %q exists and is not owned by this instance; rename or remove it", kind, name), 10*time.Second)
}

// VaultClient builds the Vault identity of the instance's spec.vault (reading the Secrets it
// names) and returns the factory's cached client for it.
func VaultClient(ctx context.Context, reader client.Reader, factory *vault.Factory, si *rschedv1.SchedulerInstance) (*vault.Client, error) {
	v := si.Spec.Vault
	id := vault.Identity{Address: v.Address, Namespace: v.Namespace}
	if v.CABundleSecretRef != nil {
		ca, err := Key(ctx, reader, si.Namespace, *v.CABundleSecretRef, "spec.vault.caBundleSecretRef")
		if err != nil {
			return nil, err
		}
		id.CACert = []byte(ca)
	}
	if err := login(ctx, reader, si, &id); err != nil {
		return nil, err
	}
	return factory.For(id)
}

// login fills in the identity's login method and credentials.
func login(ctx context.Context, reader client.Reader, si *rschedv1.SchedulerInstance, id *vault.Identity) error {
	switch a := si.Spec.Vault.Auth; {
	case a.Kubernetes != nil:
		id.Method, id.Role, id.MountPath = vault.Kubernetes, a.Kubernetes.Role, a.Kubernetes.MountPath
		id.ServiceAccount = si.Namespace + "/" + builders.ServiceAccountName(si)
		id.Audiences = a.Kubernetes.Audiences
	case a.AppRole != nil:
		sid, err := Key(ctx, reader, si.Namespace, a.AppRole.SecretIDSecretRef, "spec.vault.auth.appRole.secretIDSecretRef")
		if err != nil {
			return err
		}
		id.Method, id.MountPath, id.RoleID, id.SecretID = vault.AppRole, a.AppRole.MountPath, a.AppRole.RoleID, sid
	case a.TokenSecretRef != nil:
		tok, err := Key(ctx, reader, si.Namespace, *a.TokenSecretRef, "spec.vault.auth.tokenSecretRef")
		if err != nil {
			return err
		}
		id.Method, id.Token = vault.Token, tok
	default:
		return outcome.BlockedOn("", rschedv1.ReasonVaultAuthFailed, "spec.vault.auth names no method", 0)
	}
	return nil
}

// VaultFailure is the outcome of a failed Vault call reported on condition: an outcome already
// (a Secret the login needs is missing) stays what it is; otherwise Failed, with the reason and
// the stable, secret-free message of the vault package's error kind, err as the cause.
func VaultFailure(condition string, err error) *outcome.Outcome {
	if err == nil {
		return nil
	}
	if kind, o := outcome.Of(err); kind != outcome.Failed || o.Reason != "" {
		if o.Condition == "" {
			o.Condition = condition
		}
		return o
	}
	reason := rschedv1.ReasonVaultReadFailed
	switch {
	case errors.Is(err, vault.ErrUnreachable):
		reason = rschedv1.ReasonVaultUnreachable
	case errors.Is(err, vault.ErrAuth):
		reason = rschedv1.ReasonVaultAuthFailed
	}
	return outcome.FailedWith(condition, reason, VaultMessage(err), err)
}

// VaultMessage is the stable, secret-free sentence for a Vault failure.
func VaultMessage(err error) string {
	switch {
	case errors.Is(err, vault.ErrTokenForbidden):
		return "the operator may not request a token for the instance's ServiceAccount (Vault kubernetes auth needs the opt-in permission: chart value rbac.serviceAccountTokenCreate.enabled=true, or the kustomize component config/components/vault-kubernetes-auth)"
	case errors.Is(err, vault.ErrUnreachable):
		return "Vault is unreachable"
	case errors.Is(err, vault.ErrAuth):
		return "Vault refused the login"
	case errors.Is(err, vault.ErrForbidden):
		return "Vault denied access to a configured secret"
	case errors.Is(err, vault.ErrNotFound):
		return "a configured secret does not exist in Vault"
	case errors.Is(err, vault.ErrKeyMissing):
		return "a configured Vault secret has no such key"
	}
	return "Vault returned an unexpected answer"
}
