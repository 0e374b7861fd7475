// Package acgme holds the ACGME duty-hour and supervision rules that the schedule validator and
// the solver share. Each rule is a small function over one resident's duty timeline (or one
// half-day's staffing) and reports every place it is broken, so the validator lists violations
// and the solver can re-check one resident after a move.
//
// Semantics, chosen once for both (docs/scheduling.md):
//   - Days are calendar days in the program's time zone; hours are real elapsed hours, split at
//     local midnight (a night shift counts on both days).
//   - A time nothing is scheduled is free. A rule over a 28-day window is checked for every
//     window that overlaps the range being validated, using the duties the timeline holds
//     around it (the caller passes the 27 days before and after), so windows that straddle the
//     range edges are judged on the stored schedule, not assumed compliant.
//   - Duties separated by at most Limits.MaxBreak (4 h: a break inside a working day, such as
//     lunch between a morning clinic and an afternoon session) form one continuous duty period,
//     breaks included in its length; any longer gap is time off and must meet the rest rules.
//   - Past a period's first MaxContinuous (24) hours only education may be scheduled, up to
//     MaxContinuous plus Transition (28) hours in all (DutyAfter24h, ContinuousDuty).
package acgme
