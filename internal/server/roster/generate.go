package roster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// ProgramConfig describes a synthetic residency program (GenerateProgram).
type ProgramConfig struct {
	Residents, Faculty int
	From, To           Date
	// AbsenceRate is the share of person-days absent (vacation, conferences), 0 to 0.5.
	AbsenceRate float64
	Seed        uint64
	// Shifts staffs the wards in shifts with their own hours instead of half-days: a 07–19 day
	// shift and a 19–07 night float replace the half-day wards and the 18-hour call, and a
	// 07:00 four-hour hand-over (education) follows a night; clinics, procedures and didactics
	// stay half-days.
	Shifts bool
	// Credentials makes procedures require the "procedures" credential, which every other
	// faculty member holds (the first, third, ...).
	Credentials bool
}

// GenerateProgram builds a realistic program of the given size: residents spread over PGY 1 to 3,
// faculty who supervise up to 6 to 8 half-days a week, templates whose capacities scale with the
// number of residents (inpatient wards, continuity clinic, procedures, didactics, overnight call),
// and absences in runs of 1 to 5 days at the given rate. The same config gives the same program.
func GenerateProgram(c ProgramConfig) (*Problem, error) {
	if c.Residents < 3 || c.Faculty < 1 || c.To.Before(c.From) || c.AbsenceRate < 0 || c.AbsenceRate > 0.5 {
		return nil, fmt.Errorf("a program needs at least 3 residents, 1 faculty, from <= to and an absence rate of 0 to 0.5")
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	p := &Problem{From: c.From, To: c.To, Location: time.UTC}
	for i := range c.Residents {
		p.People = append(p.People, Person{ID: fmt.Sprintf("r%03d", i+1), Name: fmt.Sprintf("Resident %d", i+1), Type: Resident, PGY: i%3 + 1})
	}
	for i := range c.Faculty {
		p.People = append(p.People, Person{ID: fmt.Sprintf("f%03d", i+1), Name: fmt.Sprintf("Faculty %d", i+1), Type: Faculty, MaxSessionsPerWeek: 6 + i%3})
	}
	n := float64(c.Residents)
	frac := func(f float64) int { return max(1, int(math.Round(n*f))) }
	p.Templates = []Template{
		{ID: "inpatient", Name: "Inpatient wards", Activity: Inpatient, HoursPerSession: 6, MinResidents: frac(0.15), MaxResidents: frac(0.3), Weekends: true},
		{ID: "clinic", Name: "Continuity clinic", Activity: Clinic, HoursPerSession: 4, MinResidents: frac(0.15), MaxResidents: frac(0.3), SupervisionRequired: true},
		{ID: "procedures", Name: "Procedures", Activity: Procedure, HoursPerSession: 4, MinResidents: frac(0.04), MaxResidents: frac(0.1), AllowedPGY: []int{2, 3}, SupervisionRequired: true},
		{ID: "didactics", Name: "Didactics", Activity: Conference, HoursPerSession: 3, MinResidents: 0, MaxResidents: frac(0.2)},
		{ID: "night-call", Name: "Night call", Activity: Call, HoursPerSession: 18, MinResidents: frac(0.06), MaxResidents: frac(0.1), Weekends: true},
	}
	if c.Shifts {
		day, night, handover := ClockTime(7*60), ClockTime(19*60), ClockTime(7*60)
		p.Templates[0] = Template{ID: "day-shift", Name: "Wards day shift", Activity: Inpatient, StartTime: &day, HoursPerSession: 12, MinResidents: frac(0.15), MaxResidents: frac(0.3), Weekends: true}
		p.Templates[4] = Template{ID: "night-float", Name: "Night float", Activity: Inpatient, StartTime: &night, HoursPerSession: 12, MinResidents: frac(0.06), MaxResidents: frac(0.1), Weekends: true}
		p.Templates = append(p.Templates, Template{ID: "handover", Name: "Morning hand-over", Activity: Conference, StartTime: &handover, HoursPerSession: 4, MaxResidents: frac(0.1), Weekends: true})
	}
	if c.Credentials {
		p.Templates[2].RequiredCredential = "procedures"
		for i := range p.People {
			if x := &p.People[i]; x.Type == Faculty && (i-c.Residents)%2 == 0 {
				x.Credentials = []string{"procedures"}
			}
		}
	}
	days := c.To.Sub(c.From) + 1
	for _, person := range p.People {
		want := int(math.Round(c.AbsenceRate * float64(days)))
		for got := 0; got < want; {
			length := min(1+rng.IntN(5), want-got)
			start := c.From.AddDays(rng.IntN(days))
			p.Absences = append(p.Absences, Absence{PersonID: person.ID, Start: start, End: start.AddDays(length - 1)})
			got += length
		}
	}
	return p, nil
}
