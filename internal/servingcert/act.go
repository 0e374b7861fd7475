package servingcert

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rsched/rsched/internal/pki"
)

// act performs one decision, writing in internal/pki's documented order: the CA state, the
// bundle, the leaf's Secret, the publication time last.
func (s *Store) act(ctx context.Context, req Request, st *state, d pki.Decision, now time.Time) error {
	p := req.Policy.WithDefaults()
	var err error
	switch d.Action {
	case pki.IssueCA:
		if st.ca, err = pki.NewCA(req.CommonName, now, p.CALifetime); err != nil {
			return err
		}
		st.next, st.previous, st.repl = pki.KeyPair{}, nil, pki.Replacement{}
		// A new CA answers any request open on the instance: none of them is acted on again.
		st.lastReplace, st.lastRenewCA = req.ReplaceRequest, req.RenewCARequest
		return s.writeCA(ctx, req, st)
	case pki.RenewCA:
		if st.ca, err = pki.ResignCA(st.ca, now, p.CALifetime); err != nil {
			return err
		}
		st.lastRenewCA = req.RenewCARequest
		return s.writeCA(ctx, req, st)
	case pki.StartCAReplacement:
		if st.next, err = pki.NewCA(req.CommonName, now, p.CALifetime); err != nil {
			return err
		}
		st.previous, st.repl = nil, pki.Replacement{Phase: pki.Propagating}
		st.lastReplace = req.ReplaceRequest
		if err := s.writeCA(ctx, req, st); err != nil {
			return err
		}
		return s.publish(ctx, req, st, now)
	case pki.PromoteCA:
		st.previous = st.ca.Cert
		st.ca, st.next = st.next, pki.KeyPair{}
		st.repl = pki.Replacement{Phase: pki.Overlapping, LeafMoved: recorded(now)}
		if err := s.writeCA(ctx, req, st); err != nil {
			return err
		}
		return s.issueLeaf(ctx, req, st, now)
	case pki.DropPreviousCA:
		st.previous, st.repl = nil, pki.Replacement{}
		if err := s.writeCA(ctx, req, st); err != nil {
			return err
		}
		return s.publish(ctx, req, st, now)
	case pki.PublishBundle:
		return s.publish(ctx, req, st, now)
	case pki.IssueLeaf, pki.ReissueLeaf, pki.RenewLeaf:
		return s.issueLeaf(ctx, req, st, now)
	}
	return fmt.Errorf("unknown certificate action %q", d.Action)
}

// recorded is now as it is persisted (rounded up to the second), so that the in-memory state
// decides as the stored one will.
func recorded(now time.Time) time.Time { return parseTime(stamp(now)) }

// publish writes the desired bundle and, while a replacement propagates, records when: after the
// bundle it dates, so a stop in between publishes again and restarts the wait.
func (s *Store) publish(ctx context.Context, req Request, st *state, now time.Time) error {
	want := pki.DesiredBundle(st.input(req, now))
	cm := st.bundleCM
	if cm == nil {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: req.Objects.BundleName, Namespace: req.Objects.Namespace}}
	} else {
		cm = cm.DeepCopy()
	}
	cm.Data = map[string]string{BundleKey: string(pki.EncodeCertificates(want...))}
	cm.BinaryData = nil
	if err := s.save(ctx, req, cm); err != nil {
		return err
	}
	st.bundleCM, st.bundle = cm, want
	if st.repl.Phase != pki.Propagating {
		return nil
	}
	st.repl.BundlePublished = recorded(now)
	return s.writeCA(ctx, req, st)
}

func (s *Store) issueLeaf(ctx context.Context, req Request, st *state, now time.Time) error {
	leaf, err := pki.NewLeaf(st.ca, req.DNSNames, now, req.Policy.WithDefaults().LeafLifetime)
	if err != nil {
		return err
	}
	keyPEM, err := pki.EncodePrivateKey(leaf.Key)
	if err != nil {
		return err
	}
	sec := st.leafSecret
	if sec == nil || sec.Type != corev1.SecretTypeTLS {
		// A Secret's type cannot change: one of another type (made by an older operator, or
		// damaged) is replaced by a new object, written over it only when it is ours (read
		// checked that).
		if sec != nil {
			if err := s.Writer.Delete(ctx, sec); err != nil {
				return fmt.Errorf("replacing Secret %s of type %s: %w", sec.Name, sec.Type, err)
			}
		}
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: req.Objects.LeafSecret, Namespace: req.Objects.Namespace}, Type: corev1.SecretTypeTLS}
	} else {
		sec = sec.DeepCopy()
	}
	sec.Data = map[string][]byte{corev1.TLSCertKey: pki.EncodeCertificates(leaf.Cert), corev1.TLSPrivateKeyKey: keyPEM}
	sec.StringData = nil
	setAnnotation(sec, RenewRequestAnnotation, req.RenewRequest)
	if err := s.save(ctx, req, sec); err != nil {
		return err
	}
	st.leafSecret, st.leaf, st.lastRenew = sec, leaf, req.RenewRequest
	if st.repl.Phase == pki.Overlapping && !st.repl.LeafMoved.Equal(recorded(now)) {
		// A leaf re-issued during the overlap (the promotion's own was lost) starts the overlap
		// again: pods serve the leaf it replaces until the kubelet refreshes their volume.
		st.repl.LeafMoved = recorded(now)
		return s.writeCA(ctx, req, st)
	}
	return nil
}

// writeCA writes the whole CA state in one update.
func (s *Store) writeCA(ctx context.Context, req Request, st *state) error {
	data := map[string][]byte{}
	if err := putPair(data, CACertKey, CAKeyKey, st.ca); err != nil {
		return err
	}
	if st.repl.Phase == pki.Propagating && st.next.Cert != nil {
		if err := putPair(data, NextCertKey, NextKeyKey, st.next); err != nil {
			return err
		}
	}
	if st.repl.Phase == pki.Overlapping && st.previous != nil {
		data[PreviousCertKey] = pki.EncodeCertificates(st.previous)
	}
	sec := st.caSecret
	if sec == nil {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: req.Objects.CASecret, Namespace: req.Objects.Namespace}, Type: corev1.SecretTypeOpaque}
	} else {
		sec = sec.DeepCopy()
	}
	sec.Data, sec.StringData = data, nil
	setAnnotation(sec, PhaseAnnotation, string(st.repl.Phase))
	setAnnotation(sec, BundlePublishedAnnotation, timeString(st.repl.BundlePublished))
	setAnnotation(sec, LeafMovedAnnotation, timeString(st.repl.LeafMoved))
	setAnnotation(sec, ReplaceRequestAnnotation, st.lastReplace)
	setAnnotation(sec, RenewCARequestAnnotation, st.lastRenewCA)
	if err := s.save(ctx, req, sec); err != nil {
		return err
	}
	st.caSecret = sec
	return nil
}

func putPair(data map[string][]byte, certKey, keyKey string, kp pki.KeyPair) error {
	if kp.Cert == nil {
		return nil
	}
	data[certKey] = pki.EncodeCertificates(kp.Cert)
	if kp.Key == nil {
		return nil // a CA whose key is gone: kept (it still verifies its leaf) until replaced
	}
	keyPEM, err := pki.EncodePrivateKey(kp.Key)
	if err != nil {
		return err
	}
	data[keyKey] = keyPEM
	return nil
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t)
}

// setAnnotation sets key to value, or removes it for an empty value.
func setAnnotation(obj metav1.Object, key, value string) {
	a := obj.GetAnnotations()
	if value == "" {
		delete(a, key)
		obj.SetAnnotations(a)
		return
	}
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	obj.SetAnnotations(a)
}
