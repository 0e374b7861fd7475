package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/rbac"
)

// page reads page (from 1) and page_size (1..max, default def) from the query.
func page(r *http.Request, def, maxSize int) (int, int, error) {
	q := r.URL.Query()
	p, size := 1, def
	var err error
	if v := q.Get("page"); v != "" {
		if p, err = strconv.Atoi(v); err != nil || p < 1 || p > 1_000_000 {
			return 0, 0, errStatus(http.StatusUnprocessableEntity, "page must be a whole number from 1")
		}
	}
	if v := q.Get("page_size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > maxSize {
			return 0, 0, errStatus(http.StatusUnprocessableEntity, "page_size must be a whole number from 1 to "+strconv.Itoa(maxSize))
		}
	}
	return p, size, nil
}

func pageBody(items any, total, p, size int) map[string]any {
	return map[string]any{"items": items, "total": total, "page": p, "page_size": size, "total_pages": (total + size - 1) / size}
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) error {
	p, size, err := page(r, 100, 500)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := accounts.UserFilter{Role: rbac.Role(q.Get("role")), Query: q.Get("q"), Page: p, PageSize: size}
	if f.Role != "" && !f.Role.Valid() {
		return errStatus(http.StatusUnprocessableEntity, "role is not one of admin, coordinator, faculty, resident, clinical_staff, rn, lpn, msa")
	}
	if len(f.Query) > 100 {
		return errStatus(http.StatusUnprocessableEntity, "q is longer than 100 characters")
	}
	if v := q.Get("is_active"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errStatus(http.StatusUnprocessableEntity, "is_active must be true or false")
		}
		f.IsActive = &b
	}
	users, total, err := s.Accounts.ListUsers(r.Context(), f)
	if err != nil {
		return err
	}
	if r.URL.Path == "/api/v1/auth/users" {
		// The predecessor's endpoint returns a bare list ordered by username.
		writeJSON(w, http.StatusOK, users)
		return nil
	}
	writeJSON(w, http.StatusOK, pageBody(users, total, p, size))
	return nil
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req newUserBody
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Email == "" || req.Role == "" {
		return errStatus(http.StatusUnprocessableEntity, "username, email and role are required")
	}
	u, temporary, err := s.Accounts.Register(r.Context(), principal(r), req.user(), s.client(r))
	if err != nil {
		return err
	}
	body := map[string]any{"user": u}
	if temporary != "" {
		// Shown once, to the administrator who hands it over; the user must change it at once.
		body["temporary_password"] = temporary
	}
	writeJSON(w, http.StatusCreated, body)
	return nil
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Accounts.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    *string    `json:"email"`
		Role     *rbac.Role `json:"role"`
		IsActive *bool      `json:"is_active"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Email == nil && req.Role == nil && req.IsActive == nil {
		return errStatus(http.StatusUnprocessableEntity, "nothing to change: send email, role or is_active")
	}
	u, err := s.Accounts.UpdateUser(r.Context(), principal(r), r.PathValue("id"), accounts.UserUpdate{Email: req.Email, Role: req.Role, IsActive: req.IsActive}, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.Accounts.DeleteUser(r.Context(), principal(r), r.PathValue("id"), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) lockUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Accounts.LockUser(r.Context(), principal(r), r.PathValue("id"), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *server) unlockUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Accounts.UnlockUser(r.Context(), principal(r), r.PathValue("id"), s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *server) rewrapStatus(w http.ResponseWriter, _ *http.Request) error {
	if s.Rewrap == nil {
		return errStatus(http.StatusNotFound, "field re-encryption is not running on this server")
	}
	writeJSON(w, http.StatusOK, s.Rewrap())
	return nil
}

func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, size, err := page(r, 50, 500)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Page: p, PageSize: size}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return errStatus(http.StatusUnprocessableEntity, t.name+" must be an RFC 3339 time such as 2026-11-22T10:00:00Z")
			}
			*t.dst = at
		}
	}
	if len(f.Actor) > 100 || len(f.Action) > 100 || len(f.Target) > 200 {
		return errStatus(http.StatusUnprocessableEntity, "filters are too long")
	}
	items, total, err := s.Audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, p, size))
	return nil
}

func (s *server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Audit.Verify(r.Context())
	if err != nil && !errors.Is(err, audit.ErrTampered) {
		return err
	}
	body := map[string]any{"valid": err == nil, "checked": n}
	if err != nil {
		body["error"] = err.Error() // says which entry fails, nothing secret
		s.record(r, principal(r).ID, "audit.verify.failed", "audit_log", map[string]any{"error": err.Error()})
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
