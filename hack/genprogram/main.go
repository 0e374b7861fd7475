// Command genprogram prints a synthetic residency program (roster.GenerateProgram) as JSON:
// people, rotation templates and absences, ready for the API. With -solve it also schedules
// the range and prints the run's statistics and the validator's verdict, or the schedule as CSV.
//
//	go run ./hack/genprogram -residents 18 -faculty 12 -from 2026-07-02 -to 2026-07-29
//	go run ./hack/genprogram -residents 100 -faculty 40 -from 2026-07-01 -to 2027-06-30 -solve
//	go run ./hack/genprogram -solve -csv > block1.csv
//	RSCHED_TOKEN=... go run ./hack/genprogram -load https://schedule.example.org -budget 2s
//
// With -load URL it puts the program into a running scheduler through the API (people, rotation
// templates, absences requested and approved) and generates the range there, printing the run.
// The bearer token of a coordinator or administrator comes from RSCHED_TOKEN (never a flag, so it
// stays out of process listings and shell history).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/apiload"
	"github.com/rsched/rsched/internal/server/roster"
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
	loadURL := flag.String("load", "", "load the program into the scheduler at this base URL and generate the range there (token from RSCHED_TOKEN)")
	flag.Parse()
	if *loadURL != "" {
		if err := runLoad(os.Stdout, *loadURL, os.Getenv("RSCHED_TOKEN"), *residents, *faculty, *from, *to, *absence, *seed, *budget); err != nil {
			fmt.Fprintln(os.Stderr, "genprogram:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Stdout, *residents, *faculty, *from, *to, *absence, *seed, *solve, *budget, *asCSV); err != nil {
		fmt.Fprintln(os.Stderr, "genprogram:", err)
		os.Exit(1)
	}
}

func runLoad(out io.Writer, base, token string, residents, faculty int, fromS, toS string, absence float64, seed uint64, budget time.Duration) error {
	if token == "" {
		return fmt.Errorf("-load needs a coordinator's or administrator's access token in RSCHED_TOKEN")
	}
	p, err := program(residents, faculty, fromS, toS, absence, seed)
	if err != nil {
		return err
	}
	l := &apiload.Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: budget + 2*time.Minute}}
	res, err := l.Load(context.Background(), p, budget, seed)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func program(residents, faculty int, fromS, toS string, absence float64, seed uint64) (*roster.Problem, error) {
	from, err := roster.ParseDate(fromS)
	if err != nil {
		return nil, err
	}
	to, err := roster.ParseDate(toS)
	if err != nil {
		return nil, err
	}
	return roster.GenerateProgram(roster.ProgramConfig{Residents: residents, Faculty: faculty, From: from, To: to, AbsenceRate: absence, Seed: seed})
}

func run(out io.Writer, residents, faculty int, fromS, toS string, absence float64, seed uint64, solve bool, budget time.Duration, asCSV bool) error {
	p, err := program(residents, faculty, fromS, toS, absence, seed)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if !solve {
		return enc.Encode(map[string]any{"people": p.People, "rotation_templates": p.Templates, "absences": p.Absences})
	}
	res, err := roster.Solve(context.Background(), p, roster.Options{Seed: seed, TimeBudget: budget})
	if err != nil {
		return err
	}
	if asCSV {
		return roster.WriteCSV(out, res.Assignments, roster.NewDirectory(p.People, p.Templates))
	}
	vs, err := roster.Validate(p, res.Assignments)
	if err != nil {
		return err
	}
	hard := 0
	for _, v := range vs {
		if roster.Hard(v.Rule) {
			hard++
		}
	}
	return enc.Encode(map[string]any{"stats": res.Stats, "violations": len(vs), "hard_violations": hard})
}
