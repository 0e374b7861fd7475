package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/roster"
)

// A resident in their final level graduates, every other active resident advances one level;
// faculty and the archived are left alone, and a resident stored without a final level is in a
// 3-year program.
func TestPlanRolloverGraduatesTheFinalLevelAndAdvancesTheRest(t *testing.T) {
	now := time.Now()
	res := func(id string, pgy, final int) PersonRecord {
		return PersonRecord{Person: roster.Person{ID: id, Name: id, Type: roster.Resident, PGY: pgy}, FinalPGY: final}
	}
	gone := res("gone", 2, 3)
	gone.Archive = Archive{ArchivedAt: &now, ArchivedReason: ArchivedRemoved}
	advanced, graduated := PlanRollover([]PersonRecord{
		res("intern", 1, 3), res("chief", 3, 3), res("unset", 3, 0), res("unset-junior", 2, 0), res("fellow", 5, 5), res("ty", 1, 1),
		res("senior", 4, 7), gone, {Person: roster.Person{ID: "attending", Type: roster.Faculty}},
	})
	got := fmt.Sprint(advanced, graduated)
	want := "[{intern intern 1 2 3} {unset-junior unset-junior 2 3 3} {senior senior 4 5 7}] " +
		"[{chief chief 3 0 3} {unset unset 3 0 3} {fellow fellow 5 0 5} {ty ty 1 0 1}]"
	if got != want {
		t.Fatalf("plan\n got %s\nwant %s", got, want)
	}
	if a, g := PlanRollover(nil); a == nil || g == nil {
		t.Fatal("an empty plan must list nothing, not null")
	}
}
