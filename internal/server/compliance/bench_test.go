package compliance

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/roster"
)

// benchBlock is a solved 28-day block of a generated 36-resident, 12-faculty program (the
// solve is set-up, not measured).
func benchBlock(b *testing.B) (*roster.Problem, []roster.Assignment) {
	b.Helper()
	from := roster.Date{Year: 2026, Month: time.July, Day: 2}
	p, err := roster.GenerateProgram(roster.ProgramConfig{Residents: 36, Faculty: 12, From: from, To: from.AddDays(27), AbsenceRate: 0.05, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	p.Holidays = []roster.Holiday{{Date: from.AddDays(1), Name: "Independence Day (observed)"}}
	res, err := roster.Solve(context.Background(), p, roster.Options{Seed: 1, TimeBudget: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return p, res.Assignments
}

// BenchmarkComplianceReport36Residents28Days: building the report of a 36-resident block (every
// rule through roster.Validate, the period, window and peak measures per resident) and rendering
// it as JSON's source, CSV and PDF.
func BenchmarkComplianceReport36Residents28Days(b *testing.B) {
	p, live := benchBlock(b)
	now := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			if _, err := Build(p, live, "", now); err != nil {
				b.Fatal(err)
			}
		}
	})
	r, err := Build(p, live, "", now)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("csv", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := WriteCSV(&buf, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	b.Run("pdf", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := WritePDF(&buf, r, A4); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
}
