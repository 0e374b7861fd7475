package metricsauth

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// decisions answers each Authorize call from a script, in order (a pure stand-in for the
// SubjectAccessReview decisions; the real API server's answers are tested in cmd/manager).
type decisions struct {
	answers []answer
	asked   []authorizer.Attributes
}

type answer struct {
	d   authorizer.Decision
	err error
}

func (s *decisions) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	s.asked = append(s.asked, a)
	next := s.answers[0]
	s.answers = s.answers[1:]
	return next.d, "", next.err
}

func TestAttributesAskForTheRschedResourceFirst(t *testing.T) {
	res := &authenticator.Response{User: &user.DefaultInfo{Name: "system:serviceaccount:monitoring:prometheus"}}
	attrs := Attributes(res, "rsched-system", httptest.NewRequest("GET", "/metrics", nil))
	if len(attrs) != 2 {
		t.Fatalf("%d attribute sets, want 2", len(attrs))
	}
	r, p := attrs[0], attrs[1]
	if !r.IsResourceRequest() || r.GetVerb() != "get" || r.GetNamespace() != "rsched-system" ||
		r.GetAPIGroup() != "scheduling.rsched.io" || r.GetResource() != Resource || r.GetName() != "" {
		t.Errorf("resource attributes %+v", r)
	}
	if p.IsResourceRequest() || p.GetVerb() != "get" || p.GetPath() != "/metrics" {
		t.Errorf("non-resource attributes %+v", p)
	}
	// Another path (a handler added later, pprof say) is never covered by the narrow grant.
	other := Attributes(res, "rsched-system", httptest.NewRequest("GET", "/debug/pprof/", nil))
	if len(other) != 1 || other[0].IsResourceRequest() || other[0].GetPath() != "/debug/pprof/" {
		t.Errorf("attributes for another path: %+v", other)
	}
}

func TestAllowedTakesTheFirstAllow(t *testing.T) {
	boom := errors.New("review failed")
	for _, c := range []struct {
		name    string
		answers []answer
		want    bool
		wantErr bool
		asked   int
	}{
		{"resource allowed, path not asked", []answer{{d: authorizer.DecisionAllow}}, true, false, 1},
		{"resource denied, path allowed", []answer{{d: authorizer.DecisionNoOpinion}, {d: authorizer.DecisionAllow}}, true, false, 2},
		{"both denied", []answer{{d: authorizer.DecisionDeny}, {d: authorizer.DecisionNoOpinion}}, false, false, 2},
		{"resource review failed, path allowed", []answer{{err: boom}, {d: authorizer.DecisionAllow}}, true, false, 2},
		{"resource denied, path review failed", []answer{{d: authorizer.DecisionDeny}, {err: boom}}, false, true, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &decisions{answers: c.answers}
			g := &guard{authz: authorizer.AuthorizerFunc(s.Authorize), namespace: "ns"}
			res := &authenticator.Response{User: &user.DefaultInfo{Name: "u"}}
			got, err := g.allowed(context.Background(), Attributes(res, "ns", httptest.NewRequest("GET", "/metrics", nil)))
			if got != c.want || (err != nil) != c.wantErr || len(s.asked) != c.asked {
				t.Errorf("allowed = %v, %v after %d reviews; want %v, error %v after %d", got, err, len(s.asked), c.want, c.wantErr, c.asked)
			}
		})
	}
}
