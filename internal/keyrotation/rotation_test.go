package keyrotation

import (
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

func TestDecisionChain(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	base := Input{Now: now, TargetFound: true, Initialised: true, NextRotation: now.Add(time.Hour)}
	with := func(f func(*Input)) Input { in := base; f(&in); return in }
	for name, c := range map[string]struct {
		in     Input
		rotate bool
		reason Reason
		after  time.Duration
	}{
		"not due":             {base, false, NotDue, time.Hour},
		"due":                 {with(func(i *Input) { i.NextRotation = now }), true, Due, 0},
		"overdue":             {with(func(i *Input) { i.NextRotation = now.Add(-time.Minute) }), true, Due, 0},
		"suspended beats due": {with(func(i *Input) { i.Suspended = true; i.NextRotation = now }), false, Suspended, 0},
		"no target":           {with(func(i *Input) { i.TargetFound = false }), false, TargetMissing, time.Minute},
		"first version":       {with(func(i *Input) { i.Initialised = false }), true, FirstVersion, 0},
		"manual request":      {with(func(i *Input) { i.RotateRequest = "r1" }), true, ManualRequest, 0},
		"manual request done": {with(func(i *Input) { i.RotateRequest = "r1"; i.LastRotateRequest = "r1" }), false, NotDue, time.Hour},
		"backoff beats a request": {with(func(i *Input) {
			i.RotateRequest = "r2"
			i.FailedAttempts = 2
			i.LastFailure = now.Add(-5 * time.Second)
		}), false, BackingOff, 15 * time.Second},
		"backoff over": {with(func(i *Input) { i.NextRotation = now; i.FailedAttempts = 1; i.LastFailure = now.Add(-11 * time.Second) }), true, Due, 0},
	} {
		d := Decide(c.in)
		if d.Rotate != c.rotate || d.Reason != c.reason || d.After != c.after {
			t.Errorf("%s: %+v, want rotate=%v reason=%s after=%v", name, d, c.rotate, c.reason, c.after)
		}
	}
	if BackoffFor(1) != 10*time.Second || BackoffFor(3) != 40*time.Second || BackoffFor(30) != 10*time.Minute {
		t.Error("backoff is not 10s doubling up to 10m")
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
