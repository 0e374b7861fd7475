package roster

// set places person i on template t (or free) in slot j, logged for rollback.
func (s *solver) set(i personIdx, j slotIdx, t templateIdx) {
	if old := s.assigned[i][j]; old != t {
		s.undoLog = append(s.undoLog, undo{i, j, old})
		s.apply(i, j, t)
	}
}

// rollback undoes every set since mark.
func (s *solver) rollback(mark int) {
	for len(s.undoLog) > mark {
		u := s.undoLog[len(s.undoLog)-1]
		s.apply(u.person, u.slot, u.old)
		s.undoLog = s.undoLog[:len(s.undoLog)-1]
	}
}

// apply changes one cell and keeps every counter in step.
func (s *solver) apply(i personIdx, j slotIdx, t templateIdx) {
	old := s.assigned[i][j]
	if old == t {
		return
	}
	switch s.people[i].Type {
	case Faculty:
		s.applyFaculty(i, j, old, t)
	case Learner:
		s.applyLearner(i, j, old, t)
	default:
		s.applyResident(i, j, old, t)
	}
}

// applyLearner places a learner (only ever a fixed cell): they count toward no minimum or
// maximum of residents, only toward the supervision their template needs, as a PGY-1.
func (s *solver) applyLearner(i personIdx, j slotIdx, old, t templateIdx) {
	if old != free && s.templates[old].SupervisionRequired {
		s.supervisionUnits[j][old] -= s.limits.PGY1Units
	}
	if t != free && s.templates[t].SupervisionRequired {
		s.supervisionUnits[j][t] += s.limits.PGY1Units
	}
	s.assigned[i][j] = t
}

func (s *solver) applyFaculty(i personIdx, j slotIdx, old, t templateIdx) {
	if old != free {
		s.facultyOn[j][old]--
		s.facultySessions[i][j.week()]--
	}
	if t != free {
		s.facultyOn[j][t]++
		s.facultySessions[i][j.week()]++
	}
	s.assigned[i][j] = t
}

func (s *solver) applyResident(i personIdx, j slotIdx, old, t templateIdx) {
	before := s.load(i)
	units := s.unitsOf(i)
	if old != free {
		s.leave(i, j, old, units)
	}
	if t != free {
		s.join(i, j, t, units)
	}
	s.continuityChanges -= s.changesAround(i, j)
	w := s.eq.weekendOf[j]
	wasOff := w >= 0 && s.weekendOff(i, w)
	s.assigned[i][j] = t
	s.continuityChanges += s.changesAround(i, j)
	s.countCalls(i, j, old, t)
	s.recountWeekend(i, w, wasOff)
	s.dutyHours[i] += s.sessionHours(t) - s.sessionHours(old)
	after := s.load(i)
	lv := &s.levels[s.pgy[i]]
	lv.sum += after - before
	lv.sumSq += after*after - before*before
}

// leave takes resident i (of the given supervision units) off template t in slot j.
func (s *solver) leave(i personIdx, j slotIdx, t templateIdx, units int) {
	if s.staffed[j][t] && s.residentsOn[j][t] <= s.templates[t].MinResidents {
		s.shortfall++
	}
	s.residentsOn[j][t]--
	if s.templates[t].SupervisionRequired {
		s.supervisionUnits[j][t] -= units
	}
	s.preferenceSum -= s.preference[i][t] - s.dayOffAt(i, j)
}

// join puts resident i (of the given supervision units) on template t in slot j.
func (s *solver) join(i personIdx, j slotIdx, t templateIdx, units int) {
	if s.staffed[j][t] && s.residentsOn[j][t] < s.templates[t].MinResidents {
		s.shortfall--
	}
	s.residentsOn[j][t]++
	if s.templates[t].SupervisionRequired {
		s.supervisionUnits[j][t] += units
	}
	s.preferenceSum += s.preference[i][t] - s.dayOffAt(i, j)
}

// unitsOf is resident i's supervision demand.
func (s *solver) unitsOf(i personIdx) int {
	if s.pgy[i] <= 1 {
		return s.limits.PGY1Units
	}
	return s.limits.SeniorUnits
}

// load is resident i's duty hours per available day.
func (s *solver) load(i personIdx) float64 { return s.dutyHours[i] / s.availableDays[i] }

func (s *solver) sessionHours(t templateIdx) float64 {
	if t == free {
		return 0
	}
	return s.templates[t].HoursPerSession
}

// changesAround counts template changes between slot j and the same half of the neighbouring days.
func (s *solver) changesAround(i personIdx, j slotIdx) int {
	c, t := 0, s.assigned[i][j]
	if t == free {
		return 0
	}
	for _, k := range []slotIdx{j - 2, j + 2} {
		if k >= 0 && k < s.nSlots && s.assigned[i][k] != free && s.assigned[i][k] != t {
			c++
		}
	}
	return c
}

// snapshot copies the grid into dst (reused when it has the right shape).
func (s *solver) snapshot(dst [][]templateIdx) [][]templateIdx {
	if len(dst) != len(s.assigned) {
		dst = make([][]templateIdx, len(s.assigned))
	}
	for i := range s.assigned {
		dst[i] = append(dst[i][:0], s.assigned[i]...)
	}
	return dst
}

// restore brings the grid (and every counter) back to a snapshot.
func (s *solver) restore(g [][]templateIdx) {
	for n := range s.assigned {
		i := personIdx(n)
		for k, t := range g[i] {
			if j := slotIdx(k); s.assigned[i][j] != t {
				s.apply(i, j, t)
			}
		}
	}
	s.undoLog = s.undoLog[:0]
}

// assignments lists the schedule, by half-day then person.
func (s *solver) assignments() []Assignment {
	var out []Assignment
	for j, sl := range s.slots {
		for i, x := range s.people {
			if t := s.assigned[i][j]; t != free {
				out = append(out, Assignment{Slot: sl, PersonID: x.ID, TemplateID: s.templates[t].ID, Locked: s.locked[i][j]})
			}
		}
	}
	return out
}
