// Package metricsauth guards the manager's metrics endpoint: a caller authenticates with a
// Kubernetes token (TokenReview) and is authorized by the API server (SubjectAccessReview), like
// controller-runtime's filters.WithAuthenticationAndAuthorization, except for what it asks.
//
// A caller may read when the API server allows either
//   - get on the rsched-specific resource "metrics" of group scheduling.rsched.io in the manager's
//     namespace (Resource): what the rsched scraper's Role grants, and nothing else can be read
//     with it; or
//   - get on the non-resource URL of the request (/metrics): the generic rule of many Prometheus
//     installations (kube-prometheus binds it), which reads every component's metrics.
//
// The first is asked first, so a scraper holding only the narrow grant is never told no.
package metricsauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	rschedv1alpha1 "github.com/rsched/rsched/api/v1alpha1"
)

// Resource is the resource a scraper is granted get on, in group scheduling.rsched.io and the
// manager's namespace. Nothing serves it: it exists only to be named in RBAC rules.
const Resource = "metrics"

// The caches and the retry of the TokenReview and SubjectAccessReview calls are
// controller-runtime's, which are the API server's own defaults for delegated auth.
const (
	authnCacheTTL = time.Minute
	allowCacheTTL = 5 * time.Minute
	denyCacheTTL  = 30 * time.Second
	reviewTimeout = 10 * time.Second
)

func backoff() *wait.Backoff {
	return &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// FilterProvider returns a metricsserver.Options FilterProvider authorizing against namespace,
// the manager's own.
func FilterProvider(namespace string) func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
	return func(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
		authn, authz, err := delegates(cfg, hc)
		if err != nil {
			return nil, err
		}
		g := &guard{authn: authn, authz: authz, namespace: namespace}
		return g.filter, nil
	}
}

func delegates(cfg *rest.Config, hc *http.Client) (authenticator.Request, authorizer.Authorizer, error) {
	authnClient, err := authenticationv1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, nil, err
	}
	authzClient, err := authorizationv1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, nil, err
	}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: false},
		CacheTTL:                 authnCacheTTL,
		TokenAccessReviewClient:  authnClient,
		TokenAccessReviewTimeout: reviewTimeout,
		WebhookRetryBackoff:      backoff(),
	}.New()
	if err != nil {
		return nil, nil, fmt.Errorf("creating the metrics authenticator: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: authzClient,
		AllowCacheTTL:             allowCacheTTL,
		DenyCacheTTL:              denyCacheTTL,
		WebhookRetryBackoff:       backoff(),
	}.New()
	if err != nil {
		return nil, nil, fmt.Errorf("creating the metrics authorizer: %w", err)
	}
	return authn, authz, nil
}

type guard struct {
	authn     authenticator.Request
	authz     authorizer.Authorizer
	namespace string
}

func (g *guard) filter(log logr.Logger, next http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res, ok, err := g.authn.AuthenticateRequest(req)
		if err != nil {
			// The error says why the review failed, never the token.
			log.Error(err, "authenticating a metrics request failed")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		allowed, err := g.allowed(req.Context(), Attributes(res, g.namespace, req))
		if err != nil {
			log.Error(err, "authorizing a metrics request failed", "user", res.User.GetName())
			http.Error(w, "Authorization failed", http.StatusInternalServerError)
			return
		}
		if !allowed {
			log.V(4).Info("metrics request denied", "user", res.User.GetName())
			http.Error(w, "Authorization denied for user "+res.User.GetName(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	}), nil
}

// allowed asks for each attribute set in turn; the first allow wins. An error is returned only
// when no review allowed and one of them failed.
func (g *guard) allowed(ctx context.Context, attrs []authorizer.AttributesRecord) (bool, error) {
	var firstErr error
	for i := range attrs {
		d, _, err := g.authz.Authorize(ctx, &attrs[i])
		if d == authorizer.DecisionAllow {
			return true, nil
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return false, firstErr
}

// Attributes are what a request is authorized as, in the order asked: the rsched-specific
// resource in namespace (for the metrics path only: the narrow grant reads the metrics and no
// other handler the server may ever serve), then the request's non-resource path.
func Attributes(res *authenticator.Response, namespace string, req *http.Request) []authorizer.AttributesRecord {
	verb := strings.ToLower(req.Method)
	path := authorizer.AttributesRecord{User: res.User, Verb: verb, Path: req.URL.Path}
	if req.URL.Path != MetricsPath {
		return []authorizer.AttributesRecord{path}
	}
	return []authorizer.AttributesRecord{
		{
			User: res.User, Verb: verb, Namespace: namespace, ResourceRequest: true,
			APIGroup: rschedv1alpha1.GroupVersion.Group, APIVersion: rschedv1alpha1.GroupVersion.Version,
			Resource: Resource,
		},
		path,
	}
}

// MetricsPath is the path the rsched-specific grant covers (controller-runtime's metrics path).
const MetricsPath = "/metrics"
