// Package roster is the residency scheduling domain: the academic calendar of half-day slots,
// people, rotation templates, assignments and absences, and the native solver that fills a date
// range while keeping every ACGME rule (package acgme) hard.
//
// Where things live:
//
//	model.go, calendar.go, problem.go   the domain types; Problem.check validates a request
//	plan.go                              the block rotation plan: who may hold which template
//	rotations.go, fill.go                block rotations, ValidatePlan, the greedy FillPlan
//	validate.go                          Validate: every violation of a schedule
//	solve.go                             Solve, Options, Stats, StopReason, Cost
//	solver.go                            the solver's state (indexed by personIdx, slotIdx,
//	                                     templateIdx) and how a problem is laid out in it
//	cells.go, cost.go                    one cell change and the counters and cost it moves
//	rules.go, supervision.go             the hard rules a move must keep, faculty staffing
//	construct.go, improve.go, moves.go   greedy construction, iterated local search, its moves
//	lp.go, lp_model.go, lp_rules.go      WriteLP: the same model for an exact MILP solver (CBC),
//	                                     one method per constraint family
//	export.go, generate.go               CSV and iCalendar; synthetic programs for tests and benches
package roster
