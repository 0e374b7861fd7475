package controllers

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/pki"
)

// checkDatabaseTLS refuses, before any pod is rolled with them, what the server would refuse at
// start: a Secret of spec.database.tls that is missing or does not hold what it must, and a
// database URL whose sslmode is weaker than spec.database.tls.mode. The running pods keep serving;
// Ready says why and what to change. Messages name Secrets and keys, never their content, and
// never the URL.
func (r *SchedulerInstanceReconciler) checkDatabaseTLS(ctx context.Context, si *rschedv1.SchedulerInstance, revision string) error {
	t := si.Spec.Database.TLS
	if ref := t.CASecretRef; ref != nil {
		data, err := r.readUserSecret(ctx, si, ref.Name, "spec.database.tls.caSecretRef", ref.Key)
		if err != nil {
			return err
		}
		if _, err := pki.DecodeCertificates(data[ref.Key]); err != nil {
			return databaseTLSBlocked(rschedv1.ReasonInvalidConfig, fmt.Sprintf("spec.database.tls.caSecretRef: key %s of Secret %s is not a PEM certificate list", ref.Key, ref.Name))
		}
	}
	if ref := t.ClientCertSecretRef; ref != nil {
		data, err := r.readUserSecret(ctx, si, ref.Name, "spec.database.tls.clientCertSecretRef", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
		if err != nil {
			return err
		}
		if _, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey]); err != nil {
			return databaseTLSBlocked(rschedv1.ReasonInvalidConfig, fmt.Sprintf("spec.database.tls.clientCertSecretRef: Secret %s does not hold a PEM certificate and its unencrypted private key (tls.crt, tls.key)", ref.Name))
		}
	}
	return r.checkDatabaseURL(ctx, si, revision)
}

// checkDatabaseURL checks the URL the operator copied into the instance's database Secret, at the
// revision the secret sync reports: from the cache when it holds that revision, otherwise past it
// (the copy was written moments ago in this very reconcile, and a cache that has not seen it yet
// must not wave the old or no URL through to the Deployment).
func (r *SchedulerInstanceReconciler) checkDatabaseURL(ctx context.Context, si *rschedv1.SchedulerInstance, revision string) error {
	sec := &corev1.Secret{}
	key := client.ObjectKey{Namespace: si.Namespace, Name: builders.DatabaseSecretName(si)}
	err := r.Client.Get(ctx, key, sec)
	if err != nil || revision == "" || sec.Annotations[builders.RevisionAnnotation] != revision {
		sec = &corev1.Secret{}
		err = r.APIReader.Get(ctx, key, sec)
	}
	if apierrors.IsNotFound(err) {
		return nil // not written yet: the secret sync says why
	}
	if err != nil {
		return fmt.Errorf("reading Secret %s: %w", builders.DatabaseSecretName(si), err)
	}
	raw := strings.TrimSpace(string(sec.Data[builders.DatabaseURLKey]))
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// url.Parse's error quotes the URL, password included: never pass it on.
		return databaseTLSBlocked(rschedv1.ReasonInvalidConfig, "The database URL is not a postgres:// URL")
	}
	if _, err := builders.DatabaseTLS(si).CheckURL(u); err != nil {
		return databaseTLSBlocked(rschedv1.ReasonInvalidConfig, "The database URL "+err.Error()+"; change the URL's sslmode or spec.database.tls")
	}
	return nil
}

// readUserSecret reads a Secret the spec names (past the cache, which holds only the operator's
// own) and checks that it has keys.
func (r *SchedulerInstanceReconciler) readUserSecret(ctx context.Context, si *rschedv1.SchedulerInstance, name, field string, keys ...string) (map[string][]byte, error) {
	sec := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: si.Namespace, Name: name}, sec)
	if apierrors.IsNotFound(err) {
		return nil, databaseTLSBlocked(rschedv1.ReasonSecretNotFound, fmt.Sprintf("%s: Secret %s not found", field, name))
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", name, err)
	}
	for _, k := range keys {
		if len(sec.Data[k]) == 0 {
			return nil, databaseTLSBlocked(rschedv1.ReasonSecretKeyMissing, fmt.Sprintf("%s: Secret %s has no key %s", field, name, k))
		}
	}
	return sec.Data, nil
}

// retryBlockedUserSecret: a Secret the spec names is not watched (the cache holds only the
// operator's own), so a block on one is looked at again after this.
const retryBlockedUserSecret = time.Minute

// databaseTLSBlocked stops the reconcile before the Deployment: pods rolled with this would not
// start. The Secrets named are not watched, so it looks again in a minute.
func databaseTLSBlocked(reason, msg string) error {
	return outcome.BlockedOn(rschedv1.ConditionReady, reason, msg, retryBlockedUserSecret).Halting()
}
