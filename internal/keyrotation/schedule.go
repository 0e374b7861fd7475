// Package keyrotation holds the KeyRotationPolicy's decisions as pure functions with an injected
// clock: when the next rotation is due (schedule.go), whether to rotate now (decide.go, an
// ordered chain of small checks, after cert-manager's renewal policies), and what the next keyring
// looks like (keys.go). The reconciler only reads the world, asks, and writes.
package keyrotation

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// cronParser reads standard five-field cron expressions (minute hour day-of-month month
// day-of-week) and the @hourly/@daily/@weekly/@monthly descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Next returns the first rotation time strictly after after. For `every`, it is after + every;
// for `cron`, the next matching minute in timeZone (UTC when empty): wall-clock times that a
// daylight-saving change skips are skipped, and a repeated wall-clock hour matches once.
func Next(s rschedv1.RotationSchedule, after time.Time) (time.Time, error) {
	switch {
	case s.Every != nil && s.Cron != "":
		return time.Time{}, errors.New("rotation: schedule sets both every and cron")
	case s.Every != nil:
		if s.Every.Duration <= 0 {
			return time.Time{}, errors.New("rotation: schedule.every must be positive")
		}
		return after.Add(s.Every.Duration), nil
	case s.Cron != "":
		loc := time.UTC
		if s.TimeZone != "" {
			var err error
			if loc, err = time.LoadLocation(s.TimeZone); err != nil {
				return time.Time{}, fmt.Errorf("rotation: time zone %q: %w", s.TimeZone, err)
			}
		}
		sched, err := cronParser.Parse(s.Cron)
		if err != nil {
			return time.Time{}, fmt.Errorf("rotation: cron %q: %w", s.Cron, err)
		}
		next := sched.Next(after.In(loc))
		// When clocks fall back an hour repeats; the cron library matches its wall-clock times
		// twice. A daily schedule must rotate once, so the repeat of the time just used is skipped.
		if a := after.In(loc); !next.IsZero() && sameWallMinute(next, a) {
			next = sched.Next(next)
		}
		if next.IsZero() {
			return time.Time{}, fmt.Errorf("rotation: cron %q never fires", s.Cron)
		}
		return next.UTC(), nil
	}
	return time.Time{}, errors.New("rotation: schedule sets neither every nor cron")
}

func sameWallMinute(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd && a.Hour() == b.Hour() && a.Minute() == b.Minute()
}

// ScheduleBase is the time the schedule continues from once status records a rotation whose
// newest keys were created at rotatedAt, given the nextRotationTime status held before it (zero
// when none) and whether a manual request caused it.
//
// A scheduled rotation continues from the time it was due, however late it ran (the manager was
// down, say), so the schedule never drifts by the lateness. A manual rotation, or a version that
// appeared before anything was due (the instance's first keyring, a keyring written by hand),
// continues from rotatedAt. The answer depends only on what status held before and on the
// keyring, so the reconcile that staged the rotation and a later one that read the policy before
// that status write (a stale cache) compute the same schedule.
func ScheduleBase(prevNext, rotatedAt time.Time, manual bool) time.Time {
	if manual || prevNext.IsZero() || rotatedAt.Before(prevNext) {
		return rotatedAt
	}
	return prevNext
}

// RecordedStagingTime is the staging time t as the keyring Secret records it (RFC 3339, whole
// seconds): rounded up, never down, so that a propagation wait measured from the record never
// ends before t + propagation. A whole-second t is recorded as it is.
func RecordedStagingTime(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}
