package roster

import "testing"

func TestMeasureEquityCountsCallsWeekendsHolidaysAndChanges(t *testing.T) {
	p := plantProgram() // 2026-07-02 (a Thursday) to 07-29: four whole weekends
	p.Holidays = []Holiday{{Date: Date{2026, 7, 4}, Name: "Independence Day"}}
	as := []Assignment{
		at2(p, 2, PM, "r2", "call"),  // Saturday 07-04, the holiday: a weekend and a holiday call
		at2(p, 6, PM, "r2", "call"),  // a Wednesday
		at2(p, 1, PM, "r4", "call"),  // Friday 07-03: runs to 07:00 Saturday, so that weekend is not off
		at2(p, 10, AM, "r1", "ward"), // r1: ward on Sunday 07-12 (that weekend is not off), then clinic twice: one change
		at2(p, 11, AM, "r1", "clinic"), at2(p, 12, AM, "r1", "clinic"),
	}
	e := MeasureEquity(p, as)
	if len(e.Levels) != 3 {
		t.Fatalf("levels %+v", e.Levels)
	}
	pgy1, pgy2 := e.Levels[0], e.Levels[1]
	if pgy2.PGY != 2 || pgy2.Residents != 2 ||
		pgy2.Calls != (Spread{1, 2, 1}) || pgy2.WeekendCalls != (Spread{0, 1, 1}) || pgy2.HolidayCalls != (Spread{0, 1, 1}) ||
		pgy2.WeekendsOff != (Spread{3, 3, 0}) {
		t.Errorf("PGY-2: %+v", pgy2)
	}
	if pgy1.TemplateChanges != (Spread{1, 1, 0}) || pgy1.WeekendsOff != (Spread{3, 3, 0}) {
		t.Errorf("PGY-1: %+v", pgy1)
	}
	if e.Worst != (EquitySpreads{Calls: 1, WeekendCalls: 1, HolidayCalls: 1}) {
		t.Errorf("worst: %+v", e.Worst)
	}
}

// Home and backup calls are counted per kind, apart from in-house calls, and a weekend on any
// kind of call is not a weekend off.
func TestMeasureEquityCountsEachCallKind(t *testing.T) {
	p := plantProgram() // 2026-07-02 (a Thursday) to 07-29: four whole weekends
	p.Templates = append(p.Templates,
		Template{ID: "home", Activity: HomeCall, HoursPerSession: 12, MaxResidents: 1, Weekends: true},
		Template{ID: "backup", Activity: BackupCall, HoursPerSession: 12, MaxResidents: 1, Weekends: true})
	p.Holidays = []Holiday{{Date: Date{2026, 7, 4}, Name: "Independence Day"}}
	as := []Assignment{
		at2(p, 2, PM, "r2", "home"),   // Saturday 07-04, the holiday: a home weekend and holiday call; that weekend not off
		at2(p, 6, PM, "r2", "home"),   // a Wednesday
		at2(p, 3, PM, "r4", "backup"), // Sunday 07-05: a backup weekend call; that weekend not off
		at2(p, 7, PM, "r4", "call"),   // Thursday: in-house
	}
	e := MeasureEquity(p, as)
	pgy2 := e.Levels[1]
	if pgy2.Calls != (Spread{0, 1, 1}) || pgy2.WeekendCalls != (Spread{0, 0, 0}) {
		t.Errorf("in-house: %+v", pgy2)
	}
	if pgy2.HomeCall != (KindEquity{CallTeam: 2, Calls: Spread{0, 2, 2}, WeekendCalls: Spread{0, 1, 1}, HolidayCalls: Spread{0, 1, 1}}) {
		t.Errorf("home call: %+v", pgy2.HomeCall)
	}
	if pgy2.BackupCall != (KindEquity{CallTeam: 2, Calls: Spread{0, 1, 1}, WeekendCalls: Spread{0, 1, 1}, HolidayCalls: Spread{0, 0, 0}}) {
		t.Errorf("backup call: %+v", pgy2.BackupCall)
	}
	if pgy2.WeekendsOff != (Spread{3, 3, 0}) {
		t.Errorf("weekends off: %+v", pgy2.WeekendsOff)
	}
	if e.Worst.HomeCall != (KindSpreads{Calls: 2, WeekendCalls: 1, HolidayCalls: 1}) || e.Worst.BackupCall != (KindSpreads{Calls: 1, WeekendCalls: 1}) || e.Worst.Calls != 1 {
		t.Errorf("worst: %+v", e.Worst)
	}
}

// With a block plan, a level's call spreads compare its call team only: residents the plan puts
// on the call's rotation (or who took a call), not those on other rotations all block.
func TestMeasureEquityComparesTheCallTeam(t *testing.T) {
	p := plantProgram()
	p.Templates[2].RotationID = "icu" // the call belongs to the ICU rotation
	all := func(id, rot string) PlanEntry {
		return PlanEntry{PersonID: id, RotationID: rot, Start: p.From, End: p.To}
	}
	p.Plan = []PlanEntry{all("r2", "icu"), all("r4", "wards")}
	as := []Assignment{at2(p, 1, PM, "r2", "call"), at2(p, 5, PM, "r2", "call"), at2(p, 9, PM, "r2", "call")}
	pgy2 := MeasureEquity(p, as).Levels[1]
	if pgy2.Residents != 2 || pgy2.CallTeam != 1 || pgy2.Calls != (Spread{3, 3, 0}) {
		t.Errorf("PGY-2 with r2 alone on the ICU: %+v", pgy2)
	}
	// Without the plan both could take call, and the spread is theirs.
	p.Plan = nil
	pgy2 = MeasureEquity(p, as).Levels[1]
	if pgy2.CallTeam != 2 || pgy2.Calls != (Spread{0, 3, 3}) {
		t.Errorf("PGY-2 without a plan: %+v", pgy2)
	}
}
