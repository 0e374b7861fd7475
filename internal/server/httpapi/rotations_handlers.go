package httpapi

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// rotationView is a block rotation as the API shows it.
type rotationView struct {
	roster.Rotation
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewRotation(r store.RotationRecord) rotationView {
	if r.AllowedPGY == nil {
		r.AllowedPGY = []int{}
	}
	return rotationView{Rotation: r.Rotation, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// rotationBody is the body of POST and PATCH /rotations: on PATCH, missing fields stay.
type rotationBody struct {
	Name             *string `json:"name"`
	Kind             *string `json:"kind"`
	MinResidents     *int    `json:"min_residents"`
	MaxResidents     *int    `json:"max_residents"`
	AllowedPGYLevels *[]int  `json:"allowed_pgy_levels"`
}

// apply sets the body's fields on r and returns why the result is not valid ("" when it is).
func (b rotationBody) apply(r *roster.Rotation) string {
	if b.Name != nil {
		r.Name = strings.TrimSpace(*b.Name)
	}
	if b.Kind != nil {
		r.Kind = roster.RotationKind(*b.Kind)
	}
	if b.MinResidents != nil {
		r.MinResidents = *b.MinResidents
	}
	if b.MaxResidents != nil {
		r.MaxResidents = *b.MaxResidents
	}
	if b.AllowedPGYLevels != nil {
		r.AllowedPGY = *b.AllowedPGYLevels
	}
	if r.Name == "" || utf8.RuneCountInString(r.Name) > 200 || !validText(r.Name) {
		return "name is required, at most 200 characters"
	}
	if err := r.Validate(); err != nil {
		return err.Error()
	}
	return ""
}

func (s *server) listRotations(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.Scheduling.ListRotations(r.Context())
	if err != nil {
		return err
	}
	items := make([]rotationView, 0, len(rs))
	for _, x := range rs {
		items = append(items, viewRotation(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	return nil
}

func (s *server) createRotation(w http.ResponseWriter, r *http.Request) error {
	var b rotationBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	var x roster.Rotation
	if msg := b.apply(&x); msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	var out store.RotationRecord
	err := s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.CreateRotation(r.Context(), x)
		return event{"rotation.create", "rotation:" + out.ID, nil}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewRotation(out))
	return nil
}

func (s *server) getRotation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	x, err := s.Scheduling.GetRotation(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRotation(x))
	return nil
}

func (s *server) updateRotation(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var b rotationBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	x, err := s.Scheduling.GetRotation(r.Context(), id)
	if err != nil {
		return err
	}
	if msg := b.apply(&x.Rotation); msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	var out store.RotationRecord
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.UpdateRotation(r.Context(), x)
		return event{"rotation.update", "rotation:" + id, nil}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRotation(out))
	return nil
}

func (s *server) deleteRotation(w http.ResponseWriter, r *http.Request) error {
	return s.deleteRecord(w, r, "rotation", (*scheduling.Service).DeleteRotation)
}
