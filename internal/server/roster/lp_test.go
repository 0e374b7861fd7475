package roster

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/testenv"
)

// cbcOptimum solves p's LP export with CBC (at most 120 s) and returns the proven optimum and
// its schedule, which must pass the validator and cost the same by Cost (the LP holds every hard
// rule and the same cost).
func cbcOptimum(t *testing.T, cbc string, p *Problem) (float64, []Assignment, time.Duration) {
	t.Helper()
	var lp bytes.Buffer
	model, err := WriteLP(&lp, p)
	if err != nil {
		t.Fatal(err)
	}
	var opt float64
	var schedule []Assignment
	took := runCBC(t, cbc, lp.Bytes(), func(f *os.File) (err error) { opt, schedule, err = model.ReadCBCSolution(f); return err })
	vs, err := Validate(p, schedule)
	if err != nil {
		t.Fatal(err)
	}
	if hard := hardOnly(vs); len(hard) > 0 {
		t.Fatalf("CBC's optimum breaks a hard rule the LP should hold: %+v", hard[0])
	}
	ours, _, err := Cost(p, schedule)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ours-opt) > 1e-6 {
		t.Fatalf("CBC reports cost %v for a schedule we cost at %v", opt, ours)
	}
	return opt, schedule, took
}

// runCBC solves the LP model with CBC (at most 120 s of it) and reads its solution file with
// read; it returns how long CBC took.
func runCBC(t *testing.T, cbc string, model []byte, read func(*os.File) error) time.Duration {
	t.Helper()
	dir := t.TempDir()
	lpFile, solFile := filepath.Join(dir, "model.lp"), filepath.Join(dir, "solution.txt")
	if err := os.WriteFile(lpFile, model, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command(cbc, lpFile, "sec", "120", "solve", "solu", solFile).CombinedOutput()
	if err != nil {
		t.Fatalf("cbc: %v\n%s", err, out)
	}
	took := time.Since(start)
	f, err := os.Open(solFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := read(f); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return took
}

// The native solver against the optimum of the same model from CBC on small programs: CBC's
// schedule must pass the validator (the LP holds every hard rule), its cost as we compute it must
// equal CBC's objective (the LP holds the same cost), the native solver can never beat it, and
// the shortfall bound the native solver reports is never above CBC's shortfall.
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
		shifts                   bool // day shifts and night float with their own hours
		credentials              bool // procedures supervised by credentialed faculty only
		dayOff                   bool // three residents ask for a weekday off
		spacing                  int  // the night call's q-N pattern (0: none)
	}{
		{4, 2, 7, 0, 1, false, false, false, 0},
		{6, 2, 7, 0.1, 2, false, false, false, 0},
		{6, 3, 10, 0.05, 3, false, false, false, 0},
		{9, 3, 7, 0, 4, false, false, false, 0},
		{6, 2, 7, 0, 5, true, false, false, 0},
		{9, 3, 7, 0.05, 6, true, false, false, 0},
		{9, 4, 7, 0, 7, false, true, false, 0},
		{9, 3, 7, 0, 8, false, false, true, 0},
		{5, 2, 7, 0, 9, false, false, false, 4},
		{6, 2, 7, 0, 10, false, false, false, 3},
	}
	for _, c := range cases {
		p, err := GenerateProgram(ProgramConfig{Residents: c.residents, Faculty: c.faculty, From: from, To: from.AddDays(c.days - 1), AbsenceRate: c.absence, Seed: c.seed, Shifts: c.shifts, Credentials: c.credentials})
		if err != nil {
			t.Fatal(err)
		}
		p.Weights = linearWeights()
		for k := range p.Templates {
			if p.Templates[k].ID == "night-call" {
				p.Templates[k].EveryNthNight = c.spacing
			}
		}
		if c.dayOff {
			for k, id := range []string{"r001", "r004", "r007"} {
				p.DayOffRequests = append(p.DayOffRequests, DayOffRequest{PersonID: id, Date: from.AddDays(4 + k%2), Weight: float64(3 + k)})
			}
		}
		opt, cbcSchedule, cbcTime := cbcOptimum(t, cbc, p)
		_, optShort, err := Cost(p, cbcSchedule)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.Objective < opt-1e-6 {
			t.Fatalf("%+v: the native solver found cost %v below CBC's optimum %v: the two models differ", c, res.Stats.Objective, opt)
		}
		if res.Stats.ShortfallLowerBound > optShort {
			t.Fatalf("%+v: the shortfall bound %d is above CBC's optimal schedule's shortfall %d: it is not a bound", c, res.Stats.ShortfallLowerBound, optShort)
		}
		gap := (res.Stats.Objective - opt) / math.Max(1, math.Abs(opt))
		t.Logf("%d residents, %d faculty, %d days, shifts %v, credentials %v, day off %v, q%d: CBC optimum %.2f (shortfall %d) in %v; native %.2f in %v (gap %.1f%%, shortfall %d, bound %d)",
			c.residents, c.faculty, c.days, c.shifts, c.credentials, c.dayOff, c.spacing, opt, optShort, cbcTime.Round(time.Millisecond), res.Stats.Objective,
			time.Since(start).Round(time.Millisecond), 100*gap, res.Stats.Shortfall, res.Stats.ShortfallLowerBound)
	}
}

// tightBlock is a generated program made tight: every template minimum one above what
// GenerateProgram sizes for the residents (the maximum raised to match where needed). At 18
// residents that asks for 12 of them every weekday afternoon, with two more post-call and the
// absent ones away: the afternoons need nearly everyone, and where the days off and calls fall
// decides whether they can be covered.
func tightBlock(t testing.TB, residents, faculty, days int, absence float64, seed uint64) *Problem {
	t.Helper()
	from := Date{2026, time.July, 2}
	p, err := GenerateProgram(ProgramConfig{Residents: residents, Faculty: faculty, From: from, To: from.AddDays(days - 1), AbsenceRate: absence, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	for n := range p.Templates {
		if tp := &p.Templates[n]; tp.MinResidents > 0 {
			tp.MinResidents++
			tp.MaxResidents = max(tp.MaxResidents, tp.MinResidents)
		}
	}
	return p
}

// Issue 18's goal, checked against CBC: on tight but feasible blocks of the predecessor's 18
// residents and 12 faculty, the native solver's shortfall with a 1 s budget equals the optimum
// CBC proves on the LP export (the coverage part of the cost alone, so that CBC proves it within
// its time limit), its bound is not above it, and its schedule breaks no hard rule. The blocks
// are 14 days long: CBC needs 30-85 s to prove the same on 28-day ones (TestTightBlocksReachTheirBound
// covers those without CBC). On these seeds the solver before ejection chains left 1, 5 and 1
// half-days unstaffed at 1 s where CBC proves 0 in 2-7 s.
func TestNativeShortfallEqualsCBCOnTightBlocks(t *testing.T) {
	cbc, err := testenv.CBC()
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range tightCBCSeeds {
		p := tightBlock(t, 18, 12, 14, 0.1, seed)
		res := solveCompliant(t, fmt.Sprintf("seed %d, the native schedule", seed), p, tightOptions)
		p.Weights = Weights{Coverage: 1000}
		_, schedule, cbcTime := cbcOptimum(t, cbc, p)
		_, optShort, err := Cost(p, schedule)
		if err != nil {
			t.Fatal(err)
		}
		st := res.Stats
		t.Logf("seed %d: CBC's optimum shortfall %d in %v; native %d (bound %d, %s) in %v",
			seed, optShort, cbcTime.Round(time.Millisecond), st.Shortfall, st.ShortfallLowerBound, st.StoppedBy, st.Elapsed.Round(time.Millisecond))
		if st.ShortfallLowerBound > optShort {
			t.Errorf("seed %d: the bound %d is above CBC's optimum %d", seed, st.ShortfallLowerBound, optShort)
		}
		if st.Shortfall != optShort {
			t.Errorf("seed %d: the native solver leaves %d half-days short in %d iterations where CBC proves %d possible", seed, st.Shortfall, st.Iterations, optShort)
		}
	}
}

var tightCBCSeeds = []uint64{1, 3, 4}

// tightOptions bound the tight-block solves by iterations, not time: 100,000 iterations are what
// 0.4 s of this 2-core machine runs on these blocks (240,000-290,000 in 1 s, measured), so the
// tests hold what "a 1 s budget" means here without a loaded CI machine (go test runs packages in
// parallel) making them flaky; the time limit is only a safety net. The 1 s figures themselves
// are docs/performance.md's.
var tightOptions = Options{Seed: 1, MaxIterations: 100_000, TimeBudget: time.Minute}

// At the predecessor's full size (28 days, 18 residents, 12 faculty, 5 % absences) on tight
// blocks CBC proves a shortfall of 0 possible in 30-85 s each (docs/performance.md), too slow for
// a test; the native solver's own bound is 0 there, so reaching it in 1 s is reaching CBC's
// optimum. The solver before ejection chains left 1, 0, 3 and 1 half-days short on these.
func TestTightBlocksReachTheirBound(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		p := tightBlock(t, 18, 12, 28, 0.05, seed)
		res, err := Solve(context.Background(), p, tightOptions)
		if err != nil {
			t.Fatal(err)
		}
		st := res.Stats
		t.Logf("seed %d: shortfall %d, bound %d, %s, %d iterations", seed, st.Shortfall, st.ShortfallLowerBound, st.StoppedBy, st.Iterations)
		if st.Shortfall != st.ShortfallLowerBound || st.ShortfallGap != 0 {
			t.Errorf("seed %d: shortfall %d above the bound %d after %d iterations", seed, st.Shortfall, st.ShortfallLowerBound, st.Iterations)
		}
	}
}

// linearWeights are DefaultWeights without the terms the LP export leaves out, fairness and
// call equity (sums of squared deviations, not linear): left out of a comparison with CBC on
// both sides.
func linearWeights() Weights {
	w := DefaultWeights()
	w.Fairness, w.CallEquity, w.WeekendCallEquity, w.HolidayCallEquity, w.WeekendOffEquity = 0, 0, 0, 0, 0
	return w
}
