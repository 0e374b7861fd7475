package servingcert

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/secretsource"
)

// Keys of the CA Secret, the leaf Secret and the bundle ConfigMap.
const (
	CACertKey       = "ca.crt"
	CAKeyKey        = "ca.key"
	NextCertKey     = "next.crt"
	NextKeyKey      = "next.key"
	PreviousCertKey = "previous.crt"
	BundleKey       = "ca.crt"
)

// Annotations of the CA Secret (the replacement's persisted state) and of the leaf Secret.
const (
	PhaseAnnotation           = "scheduling.rsched.io/ca-replacement-phase"
	BundlePublishedAnnotation = "scheduling.rsched.io/bundle-published"
	LeafMovedAnnotation       = "scheduling.rsched.io/leaf-moved"
	ReplaceRequestAnnotation  = "scheduling.rsched.io/last-replace-ca-request"
	RenewRequestAnnotation    = "scheduling.rsched.io/last-renew-request"
	RenewCARequestAnnotation  = "scheduling.rsched.io/last-renew-ca-request"
)

// Objects names the three objects of one instance.
type Objects struct {
	Namespace                        string
	CASecret, LeafSecret, BundleName string
}

// Request is what Converge keeps: the instance (owner of the objects), the labels they carry,
// the lifetimes, the names the leaf must carry and the open requests.
type Request struct {
	Owner    *rschedv1.SchedulerInstance
	Objects  Objects
	Labels   map[string]string
	Policy   pki.Policy
	DNSNames []string
	// RenewRequest and ReplaceRequest are the values of the instance's renew-certificate and
	// replace-ca annotations.
	RenewRequest, ReplaceRequest, RenewCARequest string
	// CommonName is the CA's subject common name.
	CommonName string
}

// Store reads and writes an instance's certificate objects.
type Store struct {
	// Reader reads past the manager's cache (see the package comment).
	Reader client.Reader
	// Cache, when set, is read first: when what it holds decides Nothing (the steady state, by far
	// the most frequent reconcile) no request reaches the API server; any action is decided again
	// on a fresh read before it is taken. A cache a moment behind a write of ours decides on the
	// event that write brings.
	Cache  client.Reader
	Writer client.Writer
	Scheme *runtime.Scheme
}

// state is what was read, kept current as actions write.
type state struct {
	caSecret, leafSecret *corev1.Secret
	bundleCM             *corev1.ConfigMap

	ca, next    pki.KeyPair
	previous    *x509.Certificate
	leaf        pki.KeyPair
	bundle      []*x509.Certificate
	repl        pki.Replacement
	lastReplace string
	lastRenew   string
	lastRenewCA string
}

// Result is what Converge found and did.
type Result struct {
	// Performed are the actions taken, in order (each one an event).
	Performed []pki.Decision
	// Next is the chain's last answer: Nothing, and when to look again.
	Next pki.Decision
	// Leaf and CA are the serving certificate and the current CA after the actions.
	Leaf, CA *x509.Certificate
	// Phase, LastRenewRequest and LastReplaceRequest are the persisted request state.
	Phase                                                    pki.Phase
	LastRenewRequest, LastReplaceRequest, LastRenewCARequest string
}

// maxActions bounds one Converge: a fresh instance takes three (IssueCA, PublishBundle,
// IssueLeaf); a chain that does not settle within this is a bug, reported as an error.
const maxActions = 8

// Converge reads the objects, then asks and acts until the chain says wait.
func (s *Store) Converge(ctx context.Context, req Request, now time.Time) (Result, error) {
	if s.Cache != nil {
		if st, err := s.read(ctx, s.Cache, req); err == nil {
			if d := pki.Decide(st.input(req, now)); d.Action == pki.Nothing {
				return st.settled(Result{}, d), nil
			}
		}
	}
	st, err := s.read(ctx, s.Reader, req)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for range maxActions {
		d := pki.Decide(st.input(req, now))
		if d.Action == pki.Nothing {
			return st.settled(res, d), nil
		}
		if err := s.act(ctx, req, st, d, now); err != nil {
			return res, fmt.Errorf("%s (%s): %w", d.Action, d.Reason, err)
		}
		res.Performed = append(res.Performed, d)
	}
	return res, fmt.Errorf("the certificate decisions did not settle after %d actions", maxActions)
}

// settled is res completed with the state the chain settled on.
func (st *state) settled(res Result, d pki.Decision) Result {
	res.Next = d
	res.Leaf, res.CA, res.Phase = st.leaf.Cert, st.ca.Cert, st.repl.Phase
	res.LastRenewRequest, res.LastReplaceRequest, res.LastRenewCARequest = st.lastRenew, st.lastReplace, st.lastRenewCA
	return res
}

func (st *state) input(req Request, now time.Time) pki.Input {
	r := st.repl
	r.Next, r.NextKeyPresent, r.Previous = st.next.Cert, st.next.Key != nil && st.next.Cert != nil, st.previous
	return pki.Input{
		Now: now, Policy: req.Policy,
		CA: st.ca.Cert, CAKeyPresent: st.ca.Cert != nil && st.ca.Key != nil,
		Leaf: st.leaf.Cert, LeafKeyPresent: st.leaf.Cert != nil && st.leaf.Key != nil,
		DNSNames: req.DNSNames, Bundle: st.bundle,
		ReplaceRequest: req.ReplaceRequest, LastReplaceRequest: st.lastReplace,
		RenewRequest: req.RenewRequest, LastRenewRequest: st.lastRenew,
		RenewCARequest: req.RenewCARequest, LastRenewCARequest: st.lastRenewCA,
		Replacement: r,
	}
}

// read gathers the three objects. A missing object is a state the chain handles; one that is
// not the instance's is a conflict (never taken over); one that cannot be read is an error.
func (s *Store) read(ctx context.Context, r client.Reader, req Request) (*state, error) {
	st := &state{}
	o := req.Objects
	var err error
	if st.caSecret, err = getOwned(ctx, r, req.Owner, &corev1.Secret{}, o.Namespace, o.CASecret); err != nil {
		return nil, err
	}
	if st.leafSecret, err = getOwned(ctx, r, req.Owner, &corev1.Secret{}, o.Namespace, o.LeafSecret); err != nil {
		return nil, err
	}
	if st.bundleCM, err = getOwned(ctx, r, req.Owner, &corev1.ConfigMap{}, o.Namespace, o.BundleName); err != nil {
		return nil, err
	}
	st.decodeCA()
	st.decodeLeaf()
	if st.bundleCM != nil {
		// A bundle that does not parse is out of date: it is published again.
		st.bundle, _ = pki.DecodeCertificates([]byte(st.bundleCM.Data[BundleKey]))
	}
	st.recoverCA()
	return st, nil
}

// recoverCA: a CA certificate that is gone (the CA Secret deleted or damaged) while the published
// bundle still holds the CA that signed the serving leaf is that CA, without its key. Clients
// trust it and pods serve its leaf, so the chain replaces it with the full propagation
// (CAKeyMissing) instead of issuing a new CA at once, which every client would refuse until it
// re-read the bundle.
func (st *state) recoverCA() {
	if st.ca.Cert != nil || st.leaf.Cert == nil {
		return
	}
	for _, c := range st.bundle {
		if st.leaf.Cert.CheckSignatureFrom(c) == nil {
			st.ca = pki.KeyPair{Cert: c}
			return
		}
	}
}

// getOwned reads name into obj: nil when absent, a NameConflict when not the owner's.
func getOwned[T client.Object](ctx context.Context, r client.Reader, owner *rschedv1.SchedulerInstance, obj T, ns, name string) (T, error) {
	var zero T
	err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return zero, nil
	}
	if err != nil {
		return zero, fmt.Errorf("reading %s %s: %w", kindOf(obj), name, err)
	}
	if !metav1.IsControlledBy(obj, owner) && !leftByCertManager(obj, name) {
		o := secretsource.NameConflict(kindOf(obj), name)
		o.Halt = true // the pods would mount it
		return zero, o
	}
	return obj, nil
}

// leftByCertManager: the serving Secret cert-manager wrote for the instance's own Certificate of
// that name (tls.issuerRef, since removed), which has no owner. It is taken over (the next write
// makes the instance its controller); anything else under the name stays a conflict.
func leftByCertManager(obj client.Object, name string) bool {
	return metav1.GetControllerOf(obj) == nil && obj.GetAnnotations()["cert-manager.io/certificate-name"] == name
}

func kindOf(obj client.Object) string {
	if _, ok := obj.(*corev1.ConfigMap); ok {
		return "ConfigMap"
	}
	return "Secret"
}

// decodeCA reads the CA state. A certificate that does not parse counts as absent, and so does
// a key that does not parse or is not its certificate's: the chain then issues or replaces,
// which is the only way out of a damaged Secret.
func (st *state) decodeCA() {
	if st.caSecret == nil {
		return
	}
	d, a := st.caSecret.Data, st.caSecret.Annotations
	st.ca = pki.DecodePair(d[CACertKey], d[CAKeyKey])
	st.next = pki.DecodePair(d[NextCertKey], d[NextKeyKey])
	if certs, err := pki.DecodeCertificates(d[PreviousCertKey]); err == nil {
		st.previous = certs[0]
	}
	st.repl.Phase = pki.Phase(a[PhaseAnnotation])
	st.repl.BundlePublished = parseTime(a[BundlePublishedAnnotation])
	st.repl.LeafMoved = parseTime(a[LeafMovedAnnotation])
	st.lastReplace = a[ReplaceRequestAnnotation]
	st.lastRenewCA = a[RenewCARequestAnnotation]
}

func (st *state) decodeLeaf() {
	if st.leafSecret == nil {
		return
	}
	st.leaf = pki.DecodePair(st.leafSecret.Data[corev1.TLSCertKey], st.leafSecret.Data[corev1.TLSPrivateKeyKey])
	st.lastRenew = st.leafSecret.Annotations[RenewRequestAnnotation]
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// stamp is t rounded up to the second in RFC 3339: a recorded time is never earlier than the
// event, so a wait measured from it is never shortened.
func stamp(t time.Time) string {
	if r := t.Truncate(time.Second); r.Before(t) {
		t = r.Add(time.Second)
	}
	return t.UTC().Format(time.RFC3339)
}

// save creates obj when it has no resourceVersion (read found nothing), else updates it with the
// resourceVersion read, so that a concurrent writer makes the write fail instead of being
// overwritten. obj is then the stored object, so a second write in one action builds on it.
func (s *Store) save(ctx context.Context, req Request, obj client.Object) error {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, req.Labels)
	obj.SetLabels(l)
	if err := controllerutil.SetControllerReference(req.Owner, obj, s.Scheme); err != nil {
		return err
	}
	var err error
	if obj.GetResourceVersion() == "" {
		err = s.Writer.Create(ctx, obj)
	} else {
		err = s.Writer.Update(ctx, obj)
	}
	if err != nil {
		return fmt.Errorf("writing %s %s: %w", kindOf(obj), obj.GetName(), err)
	}
	return nil
}
