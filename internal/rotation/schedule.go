// Package rotation holds the KeyRotationPolicy's decisions as pure functions with an injected
// clock: when the next rotation is due (schedule.go), whether to rotate now (decide.go, an
// ordered chain of small checks, after cert-manager's renewal policies), and what the next keyring
// looks like (keys.go). The reconciler only reads the world, asks, and writes.
package rotation

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
