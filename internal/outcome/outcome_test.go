package outcome

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

func TestOfFindsTheOutcomeThroughWrapping(t *testing.T) {
	plain := errors.New("the API server refused the write")
	blocked := BlockedOn("Ready", "NameConflict", "Service \"x\" is someone else's", 10*time.Second)
	cases := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil is done", nil, Done},
		{"a wait", WaitFor(time.Second, "backoff"), Wait},
		{"a block wrapped", fmt.Errorf("Service x: %w", blocked), Blocked},
		{"a failed attempt", FailedWith("VaultReachable", "VaultUnreachable", "Vault is unreachable", plain), Failed},
		{"a plain error is failed", plain, Failed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kind, o := Of(c.err)
			if kind != c.want {
				t.Fatalf("Of = %v, want %v", kind, c.want)
			}
			if (o == nil) != (c.want == Done) {
				t.Fatalf("outcome %v for kind %v", o, kind)
			}
			if !Is(c.err, c.want) {
				t.Fatalf("Is(%v) false", c.want)
			}
		})
	}
	if _, o := Of(fmt.Errorf("wrapped: %w", blocked)); o != blocked || o.Reason != "NameConflict" {
		t.Fatalf("the wrapped block was not found itself: %+v", o)
	}
	if _, o := Of(plain); !errors.Is(o, plain) {
		t.Fatal("a plain error's outcome does not unwrap to it")
	}
}

func TestResult(t *testing.T) {
	log := logr.Discard()
	plain := errors.New("conflict writing status")
	backedOff := FailedWith("Ready", "RotationFailed", "the keys could not be changed", plain)
	backedOff.After = 40 * time.Second
	cases := []struct {
		name      string
		err       error
		requeue   time.Duration
		wantAfter time.Duration
		wantErr   bool
	}{
		{"done requeues for the next refresh", nil, time.Hour, time.Hour, false},
		{"done without a time waits for an event", nil, 0, 0, false},
		{"a wait comes back after it, without an error", WaitFor(2*time.Second, "lost a race"), time.Hour, 2 * time.Second, false},
		{"a block comes back after it", BlockedOn("Ready", "InvalidConfig", "x", 5*time.Minute).Halting(), 0, 5 * time.Minute, false},
		{"a counted failure waits out its backoff", backedOff, 0, 40 * time.Second, false},
		{"an uncounted failure goes to the rate limiter", FailedWith("", "", "", plain), time.Hour, 0, true},
		{"a plain error goes to the rate limiter", plain, time.Hour, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Result(log, c.err, c.requeue)
			if (err != nil) != c.wantErr || res.RequeueAfter != c.wantAfter {
				t.Fatalf("Result = (%v, %v), want after %v, error %v", res.RequeueAfter, err, c.wantAfter, c.wantErr)
			}
			if c.wantErr && !errors.Is(err, plain) {
				t.Fatalf("the error returned is %v, want the cause", err)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	cause := errors.New("dial tcp: connection refused")
	if got := FailedWith("", "", "Vault is unreachable", cause).Error(); got != "Vault is unreachable: dial tcp: connection refused" {
		t.Fatalf("Error() = %q", got)
	}
	if got := (&Outcome{Kind: Failed, Cause: cause}).Error(); got != cause.Error() {
		t.Fatalf("Error() = %q", got)
	}
	if got := WaitFor(time.Second, "waiting out the backoff").Error(); got != "waiting out the backoff" {
		t.Fatalf("Error() = %q", got)
	}
	if Kind(7).String() != "Kind(7)" || Blocked.String() != "blocked" {
		t.Fatal("Kind.String")
	}
}
