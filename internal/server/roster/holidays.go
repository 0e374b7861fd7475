package roster

// Holiday is a day the program observes (issue 18): a template that does not run on holidays
// (Template.Holidays false) takes no one that day, so its coverage minimum does not apply.
type Holiday struct {
	Date Date   `json:"date"`
	Name string `json:"name"`
}

// HolidayOn is the holiday on day d, if there is one (a program has a dozen a year: a scan is
// cheaper than a map to build).
func HolidayOn(holidays []Holiday, d Date) (Holiday, bool) {
	for _, h := range holidays {
		if h.Date == d {
			return h, true
		}
	}
	return Holiday{}, false
}

// RunsOn says whether t takes residents in slot s of a program with these holidays: Staffed,
// and on a holiday only if the template runs on holidays.
func (t Template) RunsOn(s Slot, holidays []Holiday) bool {
	if !t.Staffed(s) {
		return false
	}
	_, holiday := HolidayOn(holidays, s.Date)
	return !holiday || t.Holidays
}
