package schedule

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxLPCells bounds the problems WriteLP takes (resident half-days): the export is for comparing
// the solver with an exact one on small programs, not for production runs.
const MaxLPCells = 2000

// LPModel is what WriteLP wrote, to read a solution back.
type LPModel struct {
	s *solver
}

// WriteLP writes p as a mixed-integer program in CPLEX LP format, for an exact solver such as
// CBC (Debian's coinor-cbc): the same hard rules as Solve and Validate, and the same soft cost
// except fairness, whose squared deviations are not linear (compare with Weights.Fairness = 0).
// Problems with fixed assignments outside the range, or more than MaxLPCells resident
// half-days, are refused.
func WriteLP(w io.Writer, p *Problem) (*LPModel, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	s, err := newSolver(p, 0)
	if err != nil {
		return nil, err
	}
	for _, i := range s.res {
		if len(s.ctx[i]) > 0 {
			return nil, inputErrorf("the LP export takes no fixed assignments outside the range")
		}
	}
	if len(s.res)*s.nS > MaxLPCells {
		return nil, inputErrorf("the LP export takes at most %d resident half-days, not %d", MaxLPCells, len(s.res)*s.nS)
	}
	b := &lpWriter{w: bufio.NewWriter(w)}
	// facVar says whether faculty f may supervise template t in slot j: a locked cell holds only
	// its own template.
	facVar := func(f, j, t int) bool {
		if s.locked[f][j] {
			return s.grid[f][j] == int16(t)
		}
		return !s.absent[f][j]
	}
	x := func(i, j, t int) string { return fmt.Sprintf("x_%d_%d_%d", i, j, t) }
	has := func(i, j, t int) bool {
		if s.locked[i][j] {
			return s.grid[i][j] == int16(t)
		}
		return s.allowed(i, j, int16(t))
	}
	// The objective.
	b.line("Minimize")
	b.start(" cost:")
	for j := range s.slots {
		for t, tp := range s.tmpl {
			if s.staffed[j][t] && tp.MinResidents > 0 {
				b.term(s.w.Coverage, fmt.Sprintf("short_%d_%d", j, t))
			}
		}
	}
	for _, i := range s.res {
		for j := range s.slots {
			for t := range s.tmpl {
				if has(i, j, t) && s.pref[i][t] != 0 {
					b.term(-s.w.Preference*s.pref[i][t], x(i, j, t))
				}
			}
			if j+2 < s.nS && s.w.Continuity != 0 {
				b.term(s.w.Continuity, fmt.Sprintf("chg_%d_%d", i, j))
			}
		}
	}
	b.end()
	b.line("Subject To")
	sessions := func(i, j int) []int {
		var out []int
		for t := range s.tmpl {
			if has(i, j, t) {
				out = append(out, t)
			}
		}
		return out
	}
	duty := func(j, t int) (time.Time, time.Time, bool) {
		d, ok := s.tmpl[t].Duty(s.slots[j], s.loc)
		return d.Start, d.End, ok
	}
	for _, i := range s.res {
		for j := range s.slots {
			ts := sessions(i, j)
			// One template per half-day; locked cells are fixed.
			b.start("")
			for _, t := range ts {
				b.term(1, x(i, j, t))
			}
			if s.locked[i][j] {
				b.rel("=", 1)
			} else {
				b.rel("<=", 1)
			}
			// Continuity: a change from one day to the next in the same half.
			if j+2 < s.nS && s.w.Continuity != 0 {
				for _, t := range ts {
					b.start("")
					b.term(1, x(i, j, t))
					for _, u := range sessions(i, j+2) {
						if u != t {
							b.term(1, x(i, j+2, u))
						}
					}
					b.term(-1, fmt.Sprintf("chg_%d_%d", i, j))
					b.rel("<=", 1)
				}
			}
		}
	}
	// Capacity, coverage and supervision per template and half-day.
	for j := range s.slots {
		for t, tp := range s.tmpl {
			if !s.staffed[j][t] {
				continue
			}
			var rs []int
			for _, i := range s.res {
				if has(i, j, t) {
					rs = append(rs, i)
				}
			}
			b.start("")
			for _, i := range rs {
				b.term(1, x(i, j, t))
			}
			b.rel("<=", float64(tp.MaxResidents))
			if tp.MinResidents > 0 {
				b.start("")
				for _, i := range rs {
					b.term(1, x(i, j, t))
				}
				b.term(1, fmt.Sprintf("short_%d_%d", j, t))
				b.rel(">=", float64(tp.MinResidents))
			}
			if tp.SupervisionRequired {
				b.start("")
				for _, f := range s.fac {
					if facVar(f, j, t) {
						b.term(float64(s.lim.FacultyUnits), fmt.Sprintf("y_%d_%d_%d", f, j, t))
					}
				}
				for _, i := range rs {
					u := s.lim.SeniorUnits
					if s.pgy[i] <= 1 {
						u = s.lim.PGY1Units
					}
					b.term(-float64(u), x(i, j, t))
				}
				b.rel(">=", 0)
			}
		}
	}
	supervised := func(j int) []int {
		var out []int
		for t, tp := range s.tmpl {
			if tp.SupervisionRequired && s.staffed[j][t] {
				out = append(out, t)
			}
		}
		return out
	}
	for _, f := range s.fac {
		for j := range s.slots {
			b.start("")
			for _, t := range supervised(j) {
				if facVar(f, j, t) {
					b.term(1, fmt.Sprintf("y_%d_%d_%d", f, j, t))
				}
			}
			if s.locked[f][j] {
				b.rel("=", 1) // dropped when the locked template needs no supervision
			} else {
				b.rel("<=", 1)
			}
		}
		if c := s.people[f].MaxSessionsPerWeek; c > 0 {
			for w := 0; w*14 < s.nS; w++ {
				b.start("")
				fixed := 0 // locked half-days on templates without supervision count too
				for j := w * 14; j < min(s.nS, w*14+14); j++ {
					if s.locked[f][j] && !slices.Contains(supervised(j), int(s.grid[f][j])) {
						fixed++
					}
					for _, t := range supervised(j) {
						if facVar(f, j, t) {
							b.term(1, fmt.Sprintf("y_%d_%d_%d", f, j, t))
						}
					}
				}
				b.rel("<=", float64(c-fixed))
			}
		}
	}
	// The ACGME rules per resident.
	days := s.nS / 2
	lim := s.lim
	dayStart := func(k int) time.Time { return s.p.From.AddDays(k).In(s.loc) }
	hoursOn := func(j, t, k int) float64 {
		st, en, ok := duty(j, t)
		if !ok {
			return 0
		}
		lo, hi := dayStart(k), dayStart(k+1)
		if st.After(lo) {
			lo = st
		}
		if en.Before(hi) {
			hi = en
		}
		return max(0, hi.Sub(lo).Hours())
	}
	for _, i := range s.res {
		// Duty days: d_k >= every session with hours on day k; day `days` is the day after the
		// range, where a night call on the last day ends, and the rules count it as the
		// validator does.
		for k := range days + 1 {
			for j := max(0, 2*k-2); j < min(s.nS, 2*k+2); j++ {
				for _, t := range sessions(i, j) {
					if hoursOn(j, t, k) > 0 {
						b.start("")
						b.term(1, fmt.Sprintf("d_%d_%d", i, k))
						b.term(-1, x(i, j, t))
						b.rel(">=", 0)
					}
				}
			}
		}
		for first := -lim.WindowDays + 1; first < days; first++ {
			lo, hi := max(0, first), min(days+1, first+lim.WindowDays)
			// 80 hours a week over the window.
			b.start("")
			for j := max(0, 2*lo-2); j < min(s.nS, 2*hi); j++ {
				for _, t := range sessions(i, j) {
					h := 0.0
					for k := lo; k < hi; k++ {
						h += hoursOn(j, t, k)
					}
					if h > 0 {
						b.term(h, x(i, j, t))
					}
				}
			}
			b.rel("<=", lim.WeeklyHours*float64(lim.WindowDays)/7)
			// Days off: days outside the range are free.
			b.start("")
			for k := lo; k < hi; k++ {
				b.term(1, fmt.Sprintf("d_%d_%d", i, k))
			}
			b.rel("<=", float64(lim.WindowDays-lim.WindowDays/7*lim.DaysOffPerWeek))
			// Call nights, counted on the day a call starts.
			b.start("")
			for j := 2 * lo; j < min(s.nS, 2*hi); j++ {
				for _, t := range sessions(i, j) {
					if s.tmpl[t].Activity == Call {
						b.term(1, x(i, j, t))
					}
				}
			}
			b.rel("<=", float64(lim.WindowDays/lim.CallEveryNthNight))
		}
		for k := 0; k+lim.MaxConsecutiveDutyDays <= days; k++ {
			b.start("")
			for q := k; q <= k+lim.MaxConsecutiveDutyDays; q++ {
				b.term(1, fmt.Sprintf("d_%d_%d", i, q))
			}
			b.rel("<=", float64(lim.MaxConsecutiveDutyDays))
		}
		// Continuous duty and rest: chains of sessions in consecutive half-days that the rules
		// join into one period (gaps of at most MaxBreak).
		type cell struct{ j, t int }
		var walk func(chain []cell, start, end time.Time)
		walk = func(chain []cell, start, end time.Time) {
			if end.Sub(start) > lim.MaxContinuous+lim.Transition {
				b.start("")
				for _, c := range chain {
					b.term(1, x(i, c.j, c.t))
				}
				b.rel("<=", float64(len(chain)-1))
				return // every longer chain contains this one
			}
			need := lim.MinRest
			if end.Sub(start) >= lim.MaxContinuous {
				need = lim.MinRestAfterExtended
			}
			last := chain[len(chain)-1].j
			for n := last + 1; n < s.nS && n <= last+4; n++ {
				for _, t := range sessions(i, n) {
					st, en, ok := duty(n, t)
					if !ok {
						continue
					}
					gap := st.Sub(end)
					switch {
					case gap <= lim.MaxBreak && n == last+1:
						next := end
						if en.After(next) {
							next = en
						}
						walk(append(chain[:len(chain):len(chain)], cell{n, t}), start, next)
					case gap > lim.MaxBreak && gap < need:
						// Too little rest, unless a session in between carries the period on.
						b.start("")
						for _, c := range chain {
							b.term(1, x(i, c.j, c.t))
						}
						b.term(1, x(i, n, t))
						for m := last + 1; m < n; m++ {
							for _, u := range sessions(i, m) {
								if _, _, ok := duty(m, u); ok { // an off or zero-hour session carries nothing
									b.term(-1, x(i, m, u))
								}
							}
						}
						b.rel("<=", float64(len(chain)))
					}
				}
			}
		}
		for j := range s.slots {
			for _, t := range sessions(i, j) {
				if st, en, ok := duty(j, t); ok {
					walk([]cell{{j, t}}, st, en)
				}
			}
		}
	}
	b.line("Bounds")
	for j := range s.slots {
		for t, tp := range s.tmpl {
			if s.staffed[j][t] && tp.MinResidents > 0 {
				b.line(fmt.Sprintf(" 0 <= short_%d_%d", j, t))
			}
		}
	}
	b.line("Binaries")
	for _, i := range s.res {
		for j := range s.slots {
			for _, t := range sessions(i, j) {
				b.line(" " + x(i, j, t))
			}
		}
		for k := range days + 1 {
			b.line(fmt.Sprintf(" d_%d_%d", i, k))
		}
	}
	for _, f := range s.fac {
		for j := range s.slots {
			for _, t := range supervised(j) {
				if facVar(f, j, t) {
					b.line(fmt.Sprintf(" y_%d_%d_%d", f, j, t))
				}
			}
		}
	}
	b.line("End")
	if b.err != nil {
		return nil, b.err
	}
	return &LPModel{s: s}, b.w.Flush()
}

// ReadCBCSolution reads the solution file of `cbc model.lp solve solu FILE` and returns the
// objective and the assignments (residents and faculty) it sets.
func (m *LPModel) ReadCBCSolution(r io.Reader) (float64, []Assignment, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, nil, fmt.Errorf("empty solution")
	}
	head := sc.Text()
	if !strings.HasPrefix(head, "Optimal") {
		return 0, nil, fmt.Errorf("CBC did not prove optimality: %s", head)
	}
	obj, err := strconv.ParseFloat(strings.TrimSpace(head[strings.LastIndex(head, " ")+1:]), 64)
	if err != nil {
		return 0, nil, fmt.Errorf("objective in %q: %w", head, err)
	}
	var out []Assignment
	for sc.Scan() {
		f := strings.Fields(strings.TrimPrefix(sc.Text(), "**"))
		if len(f) < 3 || (!strings.HasPrefix(f[1], "x_") && !strings.HasPrefix(f[1], "y_")) {
			continue
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil || v < 0.5 {
			continue
		}
		var i, j, t int
		if _, err := fmt.Sscanf(f[1][2:], "%d_%d_%d", &i, &j, &t); err != nil {
			return 0, nil, fmt.Errorf("variable %s: %w", f[1], err)
		}
		out = append(out, Assignment{Slot: m.s.slots[j], PersonID: m.s.people[i].ID, TemplateID: m.s.tmpl[t].ID, Locked: m.s.locked[i][j]})
	}
	return obj, out, sc.Err()
}

// lpWriter writes LP lines, wrapping long expressions; a constraint is buffered until its
// relation, and dropped if it has no terms (every such row here is trivially true).
type lpWriter struct {
	w    *bufio.Writer
	n    int
	name string
	row  strings.Builder
	nt   int
	err  error
}

func (b *lpWriter) line(s string) {
	if b.err == nil {
		_, b.err = b.w.WriteString(s + "\n")
	}
}

func (b *lpWriter) start(name string) {
	b.name, b.nt = name, 0
	b.row.Reset()
}

func (b *lpWriter) term(coef float64, v string) {
	if coef == 0 {
		return
	}
	sign := "+"
	if coef < 0 {
		sign, coef = "-", -coef
	}
	if b.nt > 0 && b.nt%8 == 0 {
		b.row.WriteString("\n ")
	}
	fmt.Fprintf(&b.row, " %s %s %s", sign, strconv.FormatFloat(coef, 'g', -1, 64), v)
	b.nt++
}

func (b *lpWriter) flush(tail string) {
	if b.name == "" {
		b.n++
		b.name = fmt.Sprintf(" c%d:", b.n)
	}
	b.line(b.name + b.row.String() + tail)
}

func (b *lpWriter) rel(op string, rhs float64) {
	if b.nt == 0 {
		return
	}
	b.flush(fmt.Sprintf(" %s %s", op, strconv.FormatFloat(rhs, 'g', -1, 64)))
}

func (b *lpWriter) end() { b.flush("") }
