package scheduling

import (
	"context"
	"errors"
	"testing"

	"github.com/rsched/rsched/internal/server/store/storetest"
)

// One annual-plan solve runs at a time per process: a second, while the first holds the
// planner, is refused at once (the API's 503), and the planner is free again after it.
func TestAnnualPlannerRunsOneSolveAtATime(t *testing.T) {
	st := storetest.Instances(t, pg, 1)[0]
	svc := New(st, nil, Config{})
	ctx := context.Background()
	svc.annual <- struct{}{} // a solve in progress (copies of the service, as per request, share it)
	if _, err := svc.On(st).SolveAnnualPlan(ctx, 2026, AnnualOptions{}); !errors.Is(err, ErrPlannerBusy) {
		t.Fatalf("a second solve: %v, want ErrPlannerBusy", err)
	}
	<-svc.annual
	if _, err := svc.SolveAnnualPlan(ctx, 2026, AnnualOptions{}); err != nil {
		t.Fatalf("the planner free again: %v", err)
	}
}
