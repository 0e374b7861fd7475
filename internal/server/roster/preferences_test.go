package roster

import (
	"strings"
	"testing"
)

func TestExplainPreferencesSaysWhyAWishWasNotHonoured(t *testing.T) {
	p := plantProgram()
	p.Absences = []Absence{{PersonID: "r4", Start: p.From, End: p.To}}
	p.Preferences = []Preference{
		{PersonID: "r2", TemplateID: "ward", Weight: 3},       // placed: honoured
		{PersonID: "r3", TemplateID: "ward", Weight: -2},      // placed anyway: not honoured
		{PersonID: "r1", TemplateID: "procedures", Weight: 1}, // PGY-1, procedures take 2 and 3
		{PersonID: "r4", TemplateID: "ward", Weight: 1},       // away the whole range
		{PersonID: "r2", TemplateID: "clinic", Weight: 1},     // could have been: other goals came first
	}
	out := ExplainPreferences(p, []Assignment{at2(p, 1, AM, "r2", "ward"), at2(p, 2, AM, "r3", "ward")})
	want := []struct {
		honoured bool
		why      string
	}{{true, ""}, {false, "placed on it 1 time"}, {false, "PGY-1"}, {false, "absent"}, {false, "come before preferences"}}
	for i, w := range want {
		if out[i].Honoured != w.honoured || !strings.Contains(out[i].Why, w.why) {
			t.Errorf("%+v: want honoured %v, why containing %q", out[i], w.honoured, w.why)
		}
	}
}
