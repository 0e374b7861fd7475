// Package compliance builds the duty-hour compliance report a GME office files (issue 18): per
// resident, the duty hours, days off, in-house calls, shortest rest and longest continuous
// duty of the period and of each 28-day window tiling it, with the violations the validator
// finds; per program, the violations grouped by rule and person, and the manual changes to the
// schedule that the audit log recorded. Every number comes from the acgme functions the
// validator and the solver use (acgme.Summarize over the same Timeline), and the report renders
// as JSON, CSV (RFC 4180, formula cells defused) and a printable PDF.
package compliance
