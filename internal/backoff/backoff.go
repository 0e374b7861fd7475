package backoff

import "time"

// Exponential is a backoff that starts at Base and doubles per consecutive failure, at most Max.
type Exponential struct {
	Base time.Duration
	Max  time.Duration
}

// After is the wait after failures consecutive failures: 0 for none, Base for the first, then
// doubling, never more than Max (nor less than 0 when Max is below Base).
func (e Exponential) After(failures int) time.Duration {
	if failures <= 0 || e.Base <= 0 {
		return 0
	}
	d := e.Base
	for i := 1; i < failures && d < e.Max; i++ {
		d *= 2
	}
	return max(min(d, e.Max), 0)
}

// Until is when the backoff after failures ends, counted from the last failure at last.
func (e Exponential) Until(last time.Time, failures int) time.Time {
	return last.Add(e.After(failures))
}

// Remaining is what is left at now of the backoff that began at last (0 when it is over).
func (e Exponential) Remaining(last, now time.Time, failures int) time.Duration {
	if rest := e.Until(last, failures).Sub(now); rest > 0 {
		return rest
	}
	return 0
}
