package keyrotation

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyring"
)

func mustNext(t *testing.T, s rschedv1.RotationSchedule, after time.Time) time.Time {
	t.Helper()
	n, err := Next(s, after)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNextRotationTime(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	if got := mustNext(t, rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: 720 * time.Hour}}, t0); !got.Equal(t0.Add(720 * time.Hour)) {
		t.Errorf("every: %v", got)
	}
	if got := mustNext(t, rschedv1.RotationSchedule{Cron: "0 3 * * 0"}, t0); !got.Equal(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("weekly cron in UTC: %v", got)
	}
	// Noon in New York across the spring-forward night is 23 hours later in absolute time.
	noon := rschedv1.RotationSchedule{Cron: "0 12 * * *", TimeZone: "America/New_York"}
	a := mustNext(t, noon, time.Date(2026, 3, 7, 0, 0, 0, 0, ny))
	b := mustNext(t, noon, a)
	if a.In(ny).Hour() != 12 || b.In(ny).Hour() != 12 || b.Sub(a) != 23*time.Hour {
		t.Errorf("across DST start: %v then %v (%v apart)", a.In(ny), b.In(ny), b.Sub(a))
	}
	// The repeated 01:30 of the fall-back night fires once.
	early := rschedv1.RotationSchedule{Cron: "30 1 * * *", TimeZone: "America/New_York"}
	first := mustNext(t, early, time.Date(2026, 10, 31, 12, 0, 0, 0, ny))
	second := mustNext(t, early, first)
	if first.In(ny).Day() != 1 || second.In(ny).Day() != 2 {
		t.Errorf("fall back: %v then %v", first.In(ny), second.In(ny))
	}
	for name, s := range map[string]rschedv1.RotationSchedule{
		"both":     {Every: &metav1.Duration{Duration: time.Hour}, Cron: "* * * * *"},
		"neither":  {},
		"bad cron": {Cron: "61 * * * *"},
		"bad zone": {Cron: "0 3 * * *", TimeZone: "Mars/Olympus"},
		"zero":     {Every: &metav1.Duration{}},
	} {
		if _, err := Next(s, t0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

type decisionCase struct {
	in     Input
	rotate bool
	reason Reason
	after  time.Duration
}

// decisionCases are the whole policy: every Reason, and the order of the checks.
func decisionCases() map[string]decisionCase {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	base := Input{Now: now, NextRotation: now.Add(time.Hour)}
	with := func(f func(*Input)) Input { in := base; f(&in); return in }
	backingOffFor15s := func(i *Input) { i.FailedAttempts = 2; i.LastFailure = now.Add(-5 * time.Second) }
	return map[string]decisionCase{
		"not due":                      {base, false, NotDue, time.Hour},
		"due":                          {with(func(i *Input) { i.NextRotation = now }), true, Due, 0},
		"overdue":                      {with(func(i *Input) { i.NextRotation = now.Add(-time.Minute) }), true, Due, 0},
		"no schedule":                  {with(func(i *Input) { i.NextRotation = time.Time{} }), false, ScheduleUnknown, 0},
		"suspended beats due":          {with(func(i *Input) { i.Suspended = true; i.NextRotation = now }), false, Suspended, 0},
		"suspended, nothing scheduled": {with(func(i *Input) { i.Suspended = true; i.NextRotation = time.Time{} }), false, Suspended, 0},
		"manual request":               {with(func(i *Input) { i.RotateRequest = "r1" }), true, ManualRequest, 0},
		"manual request done":          {with(func(i *Input) { i.RotateRequest = "r1"; i.LastRotateRequest = "r1" }), false, NotDue, time.Hour},
		"suspended and a manual request: rotates": {with(func(i *Input) { i.Suspended = true; i.NextRotation = time.Time{}; i.RotateRequest = "r1" }), true, ManualRequest, 0},
		"suspended, the request done: suspended":  {with(func(i *Input) { i.Suspended = true; i.RotateRequest = "r1"; i.LastRotateRequest = "r1" }), false, Suspended, 0},
		"backoff beats a request":                 {with(func(i *Input) { backingOffFor15s(i); i.RotateRequest = "r2" }), false, BackingOff, 15 * time.Second},
		"backoff beats due":                       {with(func(i *Input) { backingOffFor15s(i); i.NextRotation = now }), false, BackingOff, 15 * time.Second},
		"backoff beats suspended":                 {with(func(i *Input) { backingOffFor15s(i); i.Suspended = true }), false, BackingOff, 15 * time.Second},
		"backoff beats a request while suspended": {with(func(i *Input) {
			backingOffFor15s(i)
			i.Suspended = true
			i.RotateRequest = "r2"
		}), false, BackingOff, 15 * time.Second},
		"backoff holds a changed spec's rotation": {with(func(i *Input) { backingOffFor15s(i); i.SpecChanged = true; i.NextRotation = now }), false, BackingOff, 15 * time.Second},
		"backoff over":                   {with(func(i *Input) { i.NextRotation = now; i.FailedAttempts = 1; i.LastFailure = now.Add(-11 * time.Second) }), true, Due, 0},
		"a failure count without a time": {with(func(i *Input) { i.NextRotation = now; i.FailedAttempts = 3 }), true, Due, 0},
	}
}

// TestDecisionChain pins the whole policy: every Reason, and the order of the checks.
func TestDecisionChain(t *testing.T) {
	for name, c := range decisionCases() {
		d := Decide(c.in)
		if d.Rotate != c.rotate || d.Reason != c.reason || d.After != c.after {
			t.Errorf("%s: %+v, want rotate=%v reason=%s after=%v", name, d, c.rotate, c.reason, c.after)
		}
	}
	if BackoffFor(1) != 10*time.Second || BackoffFor(3) != 40*time.Second || BackoffFor(30) != 10*time.Minute {
		t.Error("backoff is not 10s doubling up to 10m")
	}
}

// TestEachCheckAlone pins each link of the chain on its own: it decides, or passes.
func TestEachCheckAlone(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		check  check
		in     Input
		decide bool
		want   Decision
	}{
		"backingOff: no failure":  {backingOff, Input{Now: now}, false, Decision{}},
		"backingOff: inside":      {backingOff, Input{Now: now, FailedAttempts: 1, LastFailure: now.Add(-4 * time.Second)}, true, Decision{Reason: BackingOff, After: 6 * time.Second}},
		"backingOff: at its end":  {backingOff, Input{Now: now, FailedAttempts: 1, LastFailure: now.Add(-10 * time.Second)}, false, Decision{}},
		"manualRequest: none":     {manualRequest, Input{}, false, Decision{Rotate: true, Reason: ManualRequest}},
		"manualRequest: new":      {manualRequest, Input{RotateRequest: "a", LastRotateRequest: "b"}, true, Decision{Rotate: true, Reason: ManualRequest}},
		"manualRequest: acted on": {manualRequest, Input{RotateRequest: "a", LastRotateRequest: "a"}, false, Decision{Rotate: true, Reason: ManualRequest}},
		"suspended: no":           {suspended, Input{}, false, Decision{Reason: Suspended}},
		"suspended: yes":          {suspended, Input{Suspended: true}, true, Decision{Reason: Suspended}},
		"due: nothing scheduled":  {due, Input{Now: now}, false, Decision{}},
		"due: now":                {due, Input{Now: now, NextRotation: now}, true, Decision{Rotate: true, Reason: Due}},
		"due: later":              {due, Input{Now: now, NextRotation: now.Add(time.Minute)}, true, Decision{Reason: NotDue, After: time.Minute}},
	} {
		d, ok := c.check(c.in)
		if ok != c.decide || (ok && d != c.want) {
			t.Errorf("%s: %+v, %v; want %+v, %v", name, d, ok, c.want, c.decide)
		}
	}
}

// TestHoldIsTheChainsBackoffForAnUnchangedSpec: the reconciler's early wait is the chain's
// backoff check, skipped when the spec changed.
func TestHoldIsTheChainsBackoffForAnUnchangedSpec(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	inside := Input{Now: now, FailedAttempts: 3, LastFailure: now.Add(-30 * time.Second), RotateRequest: "r"}
	if d, hold := Hold(inside); !hold || d.Reason != BackingOff || d.After != 10*time.Second {
		t.Errorf("inside the backoff: %+v, %v", d, hold)
	}
	if d := Decide(inside); d.Reason != BackingOff || d.After != 10*time.Second {
		t.Errorf("Decide disagrees with Hold: %+v", d)
	}
	changed := inside
	changed.SpecChanged = true
	if _, hold := Hold(changed); hold {
		t.Error("a changed spec was held")
	}
	over := inside
	over.Now = now.Add(10 * time.Second)
	if _, hold := Hold(over); hold {
		t.Error("held after the backoff")
	}
	if _, hold := Hold(Input{Now: now, Suspended: true, RotateRequest: "r"}); hold {
		t.Error("held without a failure")
	}
}

// TestDecisionChainCoversEveryReason: every Reason declared in decide.go is some case's answer.
func TestDecisionChainCoversEveryReason(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "decide.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[Reason]bool{}
	for _, c := range decisionCases() {
		covered[c.reason] = true
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Reason" {
			for i, name := range vs.Names {
				lit := vs.Values[i].(*ast.BasicLit)
				v, _ := strconv.Unquote(lit.Value)
				n++
				if !covered[Reason(v)] {
					t.Errorf("Reason %s (%s) is not in TestDecisionChain", name.Name, v)
				}
			}
		}
		return true
	})
	if n != len(covered) {
		t.Errorf("%d reasons declared, %d covered", n, len(covered))
	}
}

var policyKeys = []rschedv1.RotatedKey{
	{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmEdDSA},
	{Name: "fields", Purpose: rschedv1.KeyPurposeEncryption, Algorithm: rschedv1.AlgorithmAES256GCM},
}

func states(f *keyring.File) map[string]keyring.State {
	out := map[string]keyring.State{}
	for _, k := range append(append([]keyring.FileKey{}, f.Signing...), f.Encryption...) {
		out[k.KID] = k.State
	}
	return out
}

func TestStageThenActivateKeepsEveryReplicaAbleToVerify(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	v1, err := Stage(nil, policyKeys, t0)
	if err != nil || v1.Version != 1 || states(v1)["jwt-1"] != keyring.Active || states(v1)["fields-1"] != keyring.Active {
		t.Fatalf("first version: %+v, %v", states(v1), err)
	}
	v2, err := Stage(v1, policyKeys, t0.Add(time.Hour))
	if err != nil || v2.Version != 2 || states(v2)["jwt-2"] != keyring.Staged || states(v2)["jwt-1"] != keyring.Active {
		t.Fatalf("staged: %+v, %v", states(v2), err)
	}
	if states(v1)["jwt-2"] != "" {
		t.Fatal("Stage changed its input")
	}
	r := Retention{Grace: 24 * time.Hour, Retain: 1}
	a2, err := Activate(v2, t0.Add(2*time.Hour), r)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]keyring.State{"jwt-1": keyring.VerifyOnly, "jwt-2": keyring.Active, "fields-1": keyring.DecryptOnly, "fields-2": keyring.Active}
	for kid, st := range want {
		if states(a2)[kid] != st {
			t.Errorf("%s: %s, want %s", kid, states(a2)[kid], st)
		}
	}
	kr, err := a2.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.VerificationKey("jwt-1", t0.Add(25*time.Hour)); err != nil {
		t.Errorf("the replaced key stops verifying before its grace ends: %v", err)
	}
	// After the grace the old signing key is retired and its material dropped.
	ret, changed, err := Retire(a2, t0.Add(27*time.Hour), r)
	if err != nil || !changed || states(ret)["jwt-1"] != keyring.Retired || ret.Signing[0].Key != nil {
		t.Fatalf("retire: %+v changed=%v err=%v", states(ret), changed, err)
	}
	// Encryption versions beyond Retain go only once drained.
	v3, _ := Stage(ret, policyKeys, t0.Add(28*time.Hour))
	a3, _ := Activate(v3, t0.Add(29*time.Hour), r)
	if states(a3)["fields-1"] != keyring.DecryptOnly {
		t.Fatalf("fields-1 dropped without knowing it is drained: %s", states(a3)["fields-1"])
	}
	r.Drained = func(kid string) bool { return kid == "fields-1" }
	a3b, _, _ := Retire(a3, t0.Add(30*time.Hour), r)
	if states(a3b)["fields-1"] != keyring.Retired || states(a3b)["fields-2"] != keyring.DecryptOnly {
		t.Fatalf("retention: %+v", states(a3b))
	}
}

func TestKeyMaterialIsFullLengthAndFresh(t *testing.T) {
	for alg, n := range map[rschedv1.KeyAlgorithm]int{rschedv1.AlgorithmHS256: 32, rschedv1.AlgorithmHS512: 64, rschedv1.AlgorithmEdDSA: 32, rschedv1.AlgorithmAES256GCM: 32} {
		a, err := material(alg)
		b, _ := material(alg)
		if err != nil || len(a) != n || string(a) == string(b) {
			t.Errorf("%s: %d bytes, err %v", alg, len(a), err)
		}
	}
	if _, err := material("RS256"); err == nil {
		t.Error("unknown algorithm accepted")
	}
}

// A rotation that fell due while the manager was down continues the schedule from its due time,
// whichever reconcile records it: the one that staged it, or a later one that read the policy
// from before that status write (status one version behind the keyring, nextRotationTime still
// the old due time).
func TestScheduleBaseNeverShiftsByLateness(t *testing.T) {
	due := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		prevNext, rotatedAt time.Time
		manual              bool
		want                time.Time
	}{
		"on time":                      {due, due, false, due},
		"late by ten minutes":          {due, due.Add(10 * time.Minute), false, due},
		"late by more than a period":   {due, due.Add(30 * time.Hour), false, due}, // Next then starts afresh from now
		"manual request":               {due, due.Add(-time.Minute), true, due.Add(-time.Minute)},
		"manual request while overdue": {due, due.Add(time.Minute), true, due.Add(time.Minute)},
		"first keyring":                {time.Time{}, due, false, due},
		"keyring written before due":   {due, due.Add(-time.Hour), false, due.Add(-time.Hour)},
	} {
		if got := ScheduleBase(c.prevNext, c.rotatedAt, c.manual); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
}

// The staging time is recorded in whole seconds: rounded up, so that activation, measured from
// the record, never comes before the real staging time + propagation.
func TestRecordedStagingTimeIsNeverBeforeTheStaging(t *testing.T) {
	s := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, staged := range []time.Time{s, s.Add(time.Nanosecond), s.Add(300 * time.Millisecond), s.Add(999999999 * time.Nanosecond)} {
		got := RecordedStagingTime(staged)
		if got.Before(staged) || got.Sub(staged) >= time.Second || got.Nanosecond() != 0 {
			t.Errorf("staged at %v: recorded %v", staged.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
		}
		// What the annotation keeps of it.
		back, err := time.Parse(time.RFC3339, got.Format(time.RFC3339))
		if err != nil || back.Before(staged) {
			t.Errorf("staged at %v: the record reads back as %v", staged.Format(time.RFC3339Nano), back)
		}
	}
	if got := RecordedStagingTime(s); !got.Equal(s) {
		t.Errorf("a whole second moved: %v", got)
	}
}
