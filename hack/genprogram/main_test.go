package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"
	"time"
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
