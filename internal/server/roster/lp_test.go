package roster

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/testenv"
)

// The native solver against the optimum of the same model from CBC on small programs: CBC's
// schedule must pass the validator (the LP holds every hard rule), its cost as we compute it must
// equal CBC's objective (the LP holds the same cost), and the native solver can never beat it.
func TestSolverAgainstCBCOptimum(t *testing.T) {
	cbc, err := testenv.CBC()
	if err != nil {
		t.Fatal(err)
	}
	from := Date{2026, time.July, 2}
	cases := []struct {
		residents, faculty, days int
		absence                  float64
		seed                     uint64
	}{
		{4, 2, 7, 0, 1},
		{6, 2, 7, 0.1, 2},
		{6, 3, 10, 0.05, 3},
		{9, 3, 7, 0, 4},
	}
	for _, c := range cases {
		p, err := GenerateProgram(ProgramConfig{Residents: c.residents, Faculty: c.faculty, From: from, To: from.AddDays(c.days - 1), AbsenceRate: c.absence, Seed: c.seed})
		if err != nil {
			t.Fatal(err)
		}
		p.Weights = DefaultWeights()
		p.Weights.Fairness = 0 // not linear: left out of the comparison on both sides
		dir := t.TempDir()
		var lp bytes.Buffer
		model, err := WriteLP(&lp, p)
		if err != nil {
			t.Fatal(err)
		}
		lpFile, solFile := filepath.Join(dir, "model.lp"), filepath.Join(dir, "solution.txt")
		if err := os.WriteFile(lpFile, lp.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, err := exec.Command(cbc, lpFile, "sec", "120", "solve", "solu", solFile).CombinedOutput()
		if err != nil {
			t.Fatalf("cbc: %v\n%s", err, out)
		}
		cbcTime := time.Since(start)
		f, err := os.Open(solFile)
		if err != nil {
			t.Fatal(err)
		}
		opt, cbcSchedule, err := model.ReadCBCSolution(f)
		f.Close()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		vs, err := Validate(p, cbcSchedule)
		if err != nil {
			t.Fatal(err)
		}
		if hard := hardOnly(vs); len(hard) > 0 {
			t.Fatalf("%+v: CBC's optimum breaks a hard rule the LP should hold: %+v", c, hard[0])
		}
		ours, _, err := Cost(p, cbcSchedule)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ours-opt) > 1e-6 {
			t.Fatalf("%+v: CBC reports cost %v for a schedule we cost at %v", c, opt, ours)
		}
		start = time.Now()
		res, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.Objective < opt-1e-6 {
			t.Fatalf("%+v: the native solver found cost %v below CBC's optimum %v: the two models differ", c, res.Stats.Objective, opt)
		}
		gap := (res.Stats.Objective - opt) / math.Max(1, math.Abs(opt))
		t.Logf("%d residents, %d faculty, %d days: CBC optimum %.2f in %v; native %.2f in %v (gap %.1f%%, shortfall %d)",
			c.residents, c.faculty, c.days, opt, cbcTime.Round(time.Millisecond), res.Stats.Objective,
			time.Since(start).Round(time.Millisecond), 100*gap, res.Stats.Shortfall)
	}
}
