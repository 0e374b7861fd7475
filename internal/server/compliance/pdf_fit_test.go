package compliance

import (
	"bytes"
	"strings"
	"testing"

	"codeberg.org/go-pdf/fpdf"
)

// fitByTrimming is the cut fit made before it searched: a byte off the end at a time.
func fitByTrimming(d *pdfDoc, s string, w float64) string {
	if d.GetStringWidth(s) <= w {
		return s
	}
	for len(s) > 0 && d.GetStringWidth(s+"...") > w {
		s = s[:len(s)-1]
	}
	return s + "..."
}

func newPDFDoc() *pdfDoc {
	f := fpdf.New("P", "mm", A4, "")
	f.AddPage()
	f.SetFont("Helvetica", "", 8)
	return &pdfDoc{Fpdf: f, tr: f.UnicodeTranslatorFromDescriptor("")}
}

// fit's binary search cuts where trimming a byte at a time did, for cells of mixed character
// widths, short and long, on every column width the report uses and on none at all.
func TestFitCutsWhereTrimmingDid(t *testing.T) {
	d := newPDFDoc()
	cells := []string{"", "x", "...", "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
		"iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii",
		"Ada Lovelace (PGY-1), =HYPERLINK(\"http://x\"), Dr Faculty, Zoë Ærø – naïve café déjà vu",
		strings.Repeat("consecutive_duty_days, continuous_duty; Wm. ", 40)}
	for _, c := range cells {
		c = d.put(c)
		for _, w := range []float64{0, 1, 3, 10, 18, 25, 33, 58, 178} {
			if got, want := d.fit(c, w), fitByTrimming(d, c, w); got != want {
				t.Errorf("fit(%.40q, %v) = %q, trimming gave %q", c, w, got, want)
			}
		}
	}
}

// A 100,000-character cell is cut with a handful of measurements (trimming a byte at a time
// measured up to 100,000 ever shorter copies of it) to the longest prefix that fits with its
// ellipsis, and the PDF holding it reads back with the cut cell.
func TestFitCutsAVeryLongCellToTheLongestPrefixThatFits(t *testing.T) {
	d := newPDFDoc()
	long := strings.Repeat("abcdefghij", 10_000)
	const w = 58.0
	got := d.fit(d.put(long), w)
	kept := strings.TrimSuffix(got, "...")
	if kept == got || !strings.HasPrefix(long, kept) || len(kept) == 0 {
		t.Fatalf("fit kept %q", got)
	}
	if d.GetStringWidth(got) > w || d.GetStringWidth(long[:len(kept)+1]+"...") <= w {
		t.Fatalf("%q is not the longest prefix within %v mm (%v mm)", got, w, d.GetStringWidth(got))
	}

	r := build(t, "")
	r.Overrides = append(r.Overrides, Override{Seq: 1, At: r.GeneratedAt, Actor: long, Action: "assignment.update"})
	var buf bytes.Buffer
	if err := WritePDF(&buf, r, A4); err != nil {
		t.Fatal(err)
	}
	if text := pdfText(t, buf.Bytes()); !strings.Contains(text, "abcdefghij") || !strings.Contains(text, "...") || strings.Contains(text, long[:200]) {
		t.Fatalf("the long cell was not cut to its column:\n%.3000s", text)
	}
}
