package roster

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
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
// except fairness and call equity, whose squared deviations are not linear (compare with their
// weights 0), and with the post-call day (PostCallDay) unless the problem switches it off.
// Problems with fixed assignments outside the range, or more than MaxLPCells resident
// half-days, are refused.
//
// The variables: x_i_j_t = 1 when resident i holds template t in half-day j, y_f_j_t the same
// for faculty f supervising, d_i_k = 1 when resident i is on duty on day k, short_j_t the
// residents missing below t's minimum in j, chg_i_j = 1 when i changes template from j to j+2.
func WriteLP(w io.Writer, p *Problem) (*LPModel, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	s, err := newSolver(p, 0)
	if err != nil {
		return nil, err
	}
	if err := lpRefusal(s); err != nil {
		return nil, err
	}
	m := &lpBuilder{s: s, b: &lpWriter{w: bufio.NewWriter(w)}, days: int(s.nSlots) / 2}
	m.writeObjective()
	m.b.line("Subject To")
	m.writeResidentHalfDays()
	m.writeTemplateStaffing()
	m.writeFacultyLimits()
	for _, i := range s.residents {
		m.writeACGMERules(i)
	}
	m.writeBounds()
	m.writeBinaries()
	m.b.line("End")
	if m.b.err != nil {
		return nil, m.b.err
	}
	return &LPModel{s: s}, m.b.w.Flush()
}

// lpRefusal says why the LP export does not take a problem, if it does not.
func lpRefusal(s *solver) error {
	for _, i := range s.residents {
		if len(s.contextDuties[i]) > 0 || len(s.contextCalls[i]) > 0 {
			return inputErrorf("the LP export takes no fixed assignments outside the range")
		}
	}
	if n := len(s.residents) * int(s.nSlots); n > MaxLPCells {
		return inputErrorf("the LP export takes at most %d resident half-days, not %d", MaxLPCells, n)
	}
	return nil
}

// ReadCBCSolution reads the solution file of `cbc model.lp solve solu FILE` and returns the
// objective and the assignments (residents and faculty) it sets.
func (m *LPModel) ReadCBCSolution(r io.Reader) (float64, []Assignment, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return 0, nil, fmt.Errorf("empty solution")
	}
	obj, err := cbcObjective(sc.Text())
	if err != nil {
		return 0, nil, err
	}
	var out []Assignment
	for sc.Scan() {
		a, ok, err := m.cbcAssignment(sc.Text())
		if err != nil {
			return 0, nil, err
		}
		if ok {
			out = append(out, a)
		}
	}
	return obj, out, sc.Err()
}

// cbcObjective reads the objective from the head line of a CBC solution, which must say the
// optimum was proved.
func cbcObjective(head string) (float64, error) {
	if !strings.HasPrefix(head, "Optimal") {
		return 0, fmt.Errorf("CBC did not prove optimality: %s", head)
	}
	obj, err := strconv.ParseFloat(strings.TrimSpace(head[strings.LastIndex(head, " ")+1:]), 64)
	if err != nil {
		return 0, fmt.Errorf("objective in %q: %w", head, err)
	}
	return obj, nil
}

// cbcAssignment reads one line of a CBC solution: an assignment when it sets an x or y
// variable to 1.
func (m *LPModel) cbcAssignment(line string) (Assignment, bool, error) {
	f := strings.Fields(strings.TrimPrefix(line, "**"))
	if len(f) < 3 || (!strings.HasPrefix(f[1], "x_") && !strings.HasPrefix(f[1], "y_")) {
		return Assignment{}, false, nil
	}
	v, err := strconv.ParseFloat(f[2], 64)
	if err != nil || v < 0.5 {
		return Assignment{}, false, nil
	}
	var i, j, t int
	if _, err := fmt.Sscanf(f[1][2:], "%d_%d_%d", &i, &j, &t); err != nil {
		return Assignment{}, false, fmt.Errorf("variable %s: %w", f[1], err)
	}
	s := m.s
	return Assignment{Slot: s.slots[j], PersonID: s.people[i].ID, TemplateID: s.templates[t].ID, Locked: s.locked[i][j]}, true, nil
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
