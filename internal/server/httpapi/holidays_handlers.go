package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// holidayView is a holiday as the API shows it.
type holidayView struct {
	ID        string      `json:"id"`
	Date      roster.Date `json:"date"`
	Name      string      `json:"name"`
	CreatedAt time.Time   `json:"created_at"`
}

func viewHoliday(h store.HolidayRecord) holidayView {
	return holidayView{ID: h.ID, Date: h.Date, Name: h.Name, CreatedAt: h.CreatedAt}
}

// holidayBody is the body of POST /holidays.
type holidayBody struct {
	Date *string `json:"date"`
	Name *string `json:"name"`
}

func (b holidayBody) holiday() (roster.Holiday, string) {
	if b.Date == nil {
		return roster.Holiday{}, "date is required (YYYY-MM-DD)"
	}
	d, err := roster.ParseDate(*b.Date)
	if err != nil {
		return roster.Holiday{}, "date must be a date (YYYY-MM-DD)"
	}
	name := ""
	if b.Name != nil {
		name = strings.TrimSpace(*b.Name)
	}
	if name == "" || utf8.RuneCountInString(name) > 100 || !validText(name) {
		return roster.Holiday{}, "name is required, 1 to 100 characters"
	}
	return roster.Holiday{Date: d, Name: name}, ""
}

// listHolidays lists the holidays of a range (default: the academic year of today).
func (s *server) listHolidays(w http.ResponseWriter, r *http.Request) error {
	from, to, err := s.optionalRange(r)
	if err != nil {
		return err
	}
	hs, err := s.Scheduling.ListHolidays(r.Context(), from, to)
	if err != nil {
		return err
	}
	items := make([]holidayView, 0, len(hs))
	for _, h := range hs {
		items = append(items, viewHoliday(h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	return nil
}

// createHoliday adds a holiday: 201, 409 when the date has one already.
func (s *server) createHoliday(w http.ResponseWriter, r *http.Request) error {
	var b holidayBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	h, msg := b.holiday()
	if msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	var out store.HolidayRecord
	err := s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.CreateHoliday(r.Context(), h)
		return event{"holiday.create", "holiday:" + out.ID, map[string]any{"date": h.Date.String()}}, err
	})
	if errors.Is(err, store.ErrConflict) {
		return errStatus(http.StatusConflict, "a holiday on "+h.Date.String()+" exists")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/holidays/"+out.ID)
	writeJSON(w, http.StatusCreated, viewHoliday(out))
	return nil
}

func (s *server) deleteHoliday(w http.ResponseWriter, r *http.Request) error {
	return s.deleteRecord(w, r, "holiday", (*scheduling.Service).DeleteHoliday)
}
