package roster

import "slices"

// Backup (jeopardy) call: a resident on a backup_call session is the program's reserve for a
// sick call, whatever rotation the block plan has them on. A backup session is placed in the
// afternoon of its day and stands by through the night into the next morning, so it covers two
// days: its own and the next. A resident holding a session that covers day d may be pulled onto
// any rotation's template on d: the validator does not report rotation_plan for them that day,
// and the repair (repair.go) offers them for a vacancy of another rotation, every other rule
// still applying. They keep the session when activated (backup call carries no duty hours until
// they are called in, and the session is what records why they may cross rotations), so
// activating one never touches their own backup half-day.

// backupKey is a person and a day a backup session covers.
type backupKey struct {
	person string
	day    Date
}

// backupCover indexes the backup sessions among assignments by person and covered day, the
// latest session first (the day's own before the night's before it).
type backupCover map[backupKey][]Assignment

// newBackupCover indexes the backup sessions of as, isBackup saying which templates are
// backup call.
func newBackupCover(isBackup func(templateID string) bool, as ...[]Assignment) backupCover {
	c := backupCover{}
	for _, list := range as {
		for _, a := range list {
			if isBackup(a.TemplateID) {
				c.add(a)
			}
		}
	}
	for k := range c {
		slices.SortFunc(c[k], func(a, b Assignment) int { return b.Slot.Date.Sub(a.Slot.Date) })
	}
	return c
}

func (c backupCover) add(a Assignment) {
	for _, d := range []Date{a.Slot.Date, a.Slot.Date.AddDays(1)} {
		k := backupKey{a.PersonID, d}
		if !slices.Contains(c[k], a) {
			c[k] = append(c[k], a)
		}
	}
}

// session is a backup session of person covering day d other than the one held in slot
// (which a placement in slot would give up), and whether there is one.
func (c backupCover) session(person string, d Date, slot Slot) (Assignment, bool) {
	for _, a := range c[backupKey{person, d}] {
		if a.Slot != slot {
			return a, true
		}
	}
	return Assignment{}, false
}

// covers says whether person holds a backup session covering day d.
func (c backupCover) covers(person string, d Date) bool { return len(c[backupKey{person, d}]) > 0 }

// activatedBy says whether the backup session person holds in slot is the one an earlier
// choice of this repair pulled them in by: giving it up would leave that placement outside
// their rotation without cover.
func (r *repairer) activatedBy(person string, slot Slot) bool {
	for _, a := range r.schedule {
		if a.PersonID != person || a.Slot != slot || !r.isBackup(a.TemplateID) {
			continue
		}
		for _, d := range []Date{slot.Date, slot.Date.AddDays(1)} {
			if r.activated[backupKey{person, d}] {
				if _, other := r.backups.session(person, d, slot); !other {
					return true
				}
			}
		}
	}
	return false
}
