package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/apiload"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
	"github.com/rsched/rsched/internal/server/app"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/serverconfig"
	"github.com/rsched/rsched/internal/testenv"
)

func TestProgramJSONAndSolvedSchedule(t *testing.T) {
	var b bytes.Buffer
	if err := run(&b, 9, 3, "2026-07-02", "2026-07-15", 0.05, 1, false, time.Second, false); err != nil {
		t.Fatal(err)
	}
	var prog struct {
		People    []map[string]any `json:"people"`
		Templates []map[string]any `json:"rotation_templates"`
	}
	if err := json.Unmarshal(b.Bytes(), &prog); err != nil || len(prog.People) != 12 || len(prog.Templates) != 5 {
		t.Fatalf("%v: %d people, %d templates", err, len(prog.People), len(prog.Templates))
	}
	b.Reset()
	if err := run(&b, 9, 3, "2026-07-02", "2026-07-15", 0.05, 1, true, 5*time.Second, false); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Hard  int `json:"hard_violations"`
		Stats struct {
			Assignments int `json:"assignments"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(b.Bytes(), &res); err != nil || res.Hard != 0 || res.Stats.Assignments == 0 {
		t.Fatalf("%v: %s", err, b.String())
	}
	b.Reset()
	if err := run(&b, 9, 3, "2026-07-02", "2026-07-15", 0.05, 1, true, 5*time.Second, true); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != res.Stats.Assignments+1 {
		t.Fatalf("%v: %d CSV rows for %d assignments", err, len(rows), res.Stats.Assignments)
	}
	if err := run(&b, 9, 3, "2026-07-15", "2026-07-02", 0, 1, false, time.Second, false); err == nil {
		t.Fatal("a range that ends before it starts was accepted")
	}
}

// -load against a real scheduler on a real PostgreSQL: a program of the predecessor's size (18
// residents, 12 faculty, one 28-day block, 5 % absences) goes in through the API as a
// coordinator would put it, and the block is generated there: compliant, fully covered.
func TestLoadProgramIntoAServerAndGenerate(t *testing.T) {
	pg := testenv.StartPostgres(t)
	dbURL, err := pg.CreateDatabase("genprogram")
	if err != nil {
		t.Fatal(err)
	}
	cfg := serverconfig.Default()
	// The test database is plain PostgreSQL (its TLS is tested in internal/server/store).
	cfg.Database.TLS = serverconfig.DatabaseTLS{Mode: "disable", InsecureAllowUnverified: true}
	cfg.Issuer = "https://schedule.example.org"
	big := serverconfig.Limit{Requests: 100000, Period: serverconfig.Duration(time.Minute)}
	cfg.RateLimit.API, cfg.RateLimit.Login, cfg.RateLimit.Register = big, big, big
	ring := keyringtest.Build(t, 1,
		[]keyringtest.Key{{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.Active, Material: keyringtest.Random(32)}},
		[]keyringtest.Key{{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: keyringtest.Random(32)}})
	a, err := app.New(context.Background(), cfg, keyringtest.NewSource(ring), dbURL, app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.HTTP)
	t.Cleanup(srv.Close)
	// The instance requires MFA of administrators (the default): Bootstrap enrols.
	l := &apiload.Client{Base: srv.URL, HTTP: srv.Client()}
	secret, err := l.Bootstrap(context.Background(), "coord", "c@example.org", "Correct-Horse-Battery-9")
	if err != nil || len(secret) == 0 {
		t.Fatalf("bootstrap: %v (MFA secret of %d bytes)", err, len(secret))
	}

	var out bytes.Buffer
	if err := runLoad(&out, srv.URL, "", 18, 12, "2026-07-02", "2026-07-29", 0.05, 1, time.Second); err == nil {
		t.Fatal("-load without a token was accepted")
	}
	if err := runLoad(&out, srv.URL, l.Token, 18, 12, "2026-07-02", "2026-07-29", 0.05, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	var res struct {
		People   int `json:"people"`
		Absences int `json:"absences_approved"`
		Status   int `json:"generate_status"`
		Run      struct {
			Status string `json:"status"`
			Hard   int    `json:"hard_violations"`
			Stats  struct {
				Assignments  int     `json:"assignments"`
				CoverageRate float64 `json:"coverage_rate"`
				Objective    float64 `json:"objective"`
				Construct    int64   `json:"construct_elapsed_ns"`
			} `json:"stats"`
		} `json:"run"`
		LoadSeconds float64 `json:"load_seconds"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.People != 30 || res.Absences == 0 || res.Status != 200 || res.Run.Status != "success" || res.Run.Hard != 0 || res.Run.Stats.Assignments == 0 || res.Run.Stats.CoverageRate != 1 {
		t.Fatalf("load and generate: %s", out.String())
	}
	t.Logf("loaded 30 people and %d absences in %.2f s; generated the block through the API: %d assignments, coverage %.3f, objective %.2f, first compliant schedule after %s",
		res.Absences, res.LoadSeconds, res.Run.Stats.Assignments, res.Run.Stats.CoverageRate, res.Run.Stats.Objective, time.Duration(res.Run.Stats.Construct))
}

func TestOverlappingAbsencesAreMergedBeforeLoading(t *testing.T) {
	d := func(n int) roster.Date { return roster.Date{Year: 2026, Month: time.July, Day: n} }
	got := apiload.MergeAbsences([]roster.Absence{
		{PersonID: "b", Start: d(1), End: d(2)},
		{PersonID: "a", Start: d(5), End: d(9)},
		{PersonID: "a", Start: d(1), End: d(3)},
		{PersonID: "a", Start: d(4), End: d(4)}, // adjacent: joins
		{PersonID: "a", Start: d(6), End: d(7)}, // inside
		{PersonID: "a", Start: d(11), End: d(12)},
	})
	want := []roster.Absence{{PersonID: "a", Start: d(1), End: d(9)}, {PersonID: "a", Start: d(11), End: d(12)}, {PersonID: "b", Start: d(1), End: d(2)}}
	if !slices.Equal(got, want) {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
