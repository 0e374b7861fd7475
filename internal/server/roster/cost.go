package roster

import "math"

// objective is the soft cost of the current schedule (lower is better).
func (s *solver) objective() float64 {
	w := s.weights
	return w.Coverage*float64(s.shortfall) + w.Fairness*s.fairness() + s.equityCost() + w.Continuity*float64(s.continuityChanges) - w.Preference*s.preferenceSum
}

// fairness is the sum over PGY levels of the squared deviations of the residents' loads from
// their level's mean.
func (s *solver) fairness() float64 {
	f := 0.0
	for g := 1; g <= MaxPGY; g++ {
		if lv := s.levels[g]; lv.n > 0 {
			f += lv.sumSq - lv.sum*lv.sum/lv.n
		}
	}
	return math.Max(f, 0)
}

// countShortfall counts the resident-half-days below the template minimums from scratch.
func (s *solver) countShortfall() int {
	short := 0
	for j := range s.nSlots {
		for t := range s.nTemplates {
			if s.staffed[j][t] {
				short += max(0, s.templates[t].MinResidents-s.residentsOn[j][t])
			}
		}
	}
	return short
}

// coverageRate is the share of the template minimums met (1 when there are none).
func (s *solver) coverageRate() float64 {
	need := 0
	for j := range s.nSlots {
		for t := range s.nTemplates {
			if s.staffed[j][t] {
				need += s.templates[t].MinResidents
			}
		}
	}
	if need == 0 {
		return 1
	}
	return float64(need-s.shortfall) / float64(need)
}

// spread is the largest gap in load between two residents of the same PGY level.
func (s *solver) spread() float64 {
	worst := 0.0
	for g := 1; g <= MaxPGY; g++ {
		lo, hi, seen := math.Inf(1), math.Inf(-1), false
		for _, i := range s.residents {
			if s.pgy[i] == g {
				lo, hi, seen = math.Min(lo, s.load(i)), math.Max(hi, s.load(i)), true
			}
		}
		if seen {
			worst = math.Max(worst, hi-lo)
		}
	}
	return worst
}
