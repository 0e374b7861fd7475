// Command genprogram prints a synthetic residency program (schedule.GenerateProgram) as JSON:
// people, rotation templates and absences, ready for the API. With -solve it also schedules
// the range and prints the run's statistics and the validator's verdict, or the schedule as CSV.
//
//	go run ./hack/genprogram -residents 18 -faculty 12 -from 2026-07-02 -to 2026-07-29
//	go run ./hack/genprogram -residents 100 -faculty 40 -from 2026-07-01 -to 2027-06-30 -solve
//	go run ./hack/genprogram -solve -csv > block1.csv
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rsched/rsched/internal/server/schedule"
)

func main() {
	residents := flag.Int("residents", 18, "residents, spread over PGY 1 to 3")
	faculty := flag.Int("faculty", 12, "faculty")
	from := flag.String("from", "2026-07-02", "first day (YYYY-MM-DD)")
	to := flag.String("to", "2026-07-29", "last day (YYYY-MM-DD)")
	absence := flag.Float64("absence", 0.05, "share of person-days absent, 0 to 0.5")
	seed := flag.Uint64("seed", 1, "seed of the program and of the solver")
	solve := flag.Bool("solve", false, "schedule the range and print statistics")
	budget := flag.Duration("budget", 30*time.Second, "solver time budget")
	asCSV := flag.Bool("csv", false, "with -solve: print the schedule as CSV instead")
	flag.Parse()
	if err := run(os.Stdout, *residents, *faculty, *from, *to, *absence, *seed, *solve, *budget, *asCSV); err != nil {
		fmt.Fprintln(os.Stderr, "genprogram:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, residents, faculty int, fromS, toS string, absence float64, seed uint64, solve bool, budget time.Duration, asCSV bool) error {
	from, err := schedule.ParseDate(fromS)
	if err != nil {
		return err
	}
	to, err := schedule.ParseDate(toS)
	if err != nil {
		return err
	}
	p, err := schedule.GenerateProgram(schedule.ProgramConfig{Residents: residents, Faculty: faculty, From: from, To: to, AbsenceRate: absence, Seed: seed})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if !solve {
		return enc.Encode(map[string]any{"people": p.People, "rotation_templates": p.Templates, "absences": p.Absences})
	}
	res, err := schedule.Solve(context.Background(), p, schedule.Options{Seed: seed, TimeBudget: budget})
	if err != nil {
		return err
	}
	if asCSV {
		return schedule.WriteCSV(out, res.Assignments, schedule.NewDirectory(p.People, p.Templates))
	}
	vs, err := schedule.Validate(p, res.Assignments)
	if err != nil {
		return err
	}
	hard := 0
	for _, v := range vs {
		if schedule.Hard(v.Rule) {
			hard++
		}
	}
	return enc.Encode(map[string]any{"stats": res.Stats, "violations": len(vs), "hard_violations": hard})
}
