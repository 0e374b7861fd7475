package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
)

// getRequirements answers GET /graduation-requirements: the program's whole set.
func (s *server) getRequirements(w http.ResponseWriter, r *http.Request) error {
	reqs, err := s.Scheduling.GraduationRequirements(r.Context())
	if err != nil {
		return err
	}
	if reqs == nil {
		reqs = []roster.Requirement{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": reqs, "total": len(reqs)})
	return nil
}

// putRequirements replaces the program's whole set of graduation requirements:
// PUT /graduation-requirements.
func (s *server) putRequirements(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Requirements []roster.Requirement `json:"requirements"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.Requirements == nil {
		return errStatus(http.StatusUnprocessableEntity, "requirements is required (an empty list clears them)")
	}
	for k, q := range b.Requirements {
		if q.RotationID != "" && !scheduling.ValidID(q.RotationID) {
			return errStatus(http.StatusUnprocessableEntity, "requirement "+strconv.Itoa(k)+": rotation_id must be a UUID")
		}
	}
	err := s.change(r, func(svc *scheduling.Service) (event, error) {
		before, err := svc.ReplaceGraduationRequirements(r.Context(), b.Requirements)
		return event{"graduation_requirements.replace", "graduation_requirements",
			map[string]any{"requirements": len(b.Requirements), "replaced": before}}, err
	})
	if err != nil {
		return err
	}
	return s.getRequirements(w, r)
}

// getRotationRequests answers GET /rotation-requests?year=.
func (s *server) getRotationRequests(w http.ResponseWriter, r *http.Request) error {
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	reqs, err := s.Scheduling.RotationRequests(r.Context(), year)
	if err != nil {
		return err
	}
	if reqs == nil {
		reqs = []roster.RotationRequest{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"academic_year": year, "items": reqs, "total": len(reqs)})
	return nil
}

// getPersonRotationRequests answers one resident's requests of a year: GET
// /people/{id}/rotation-requests?year=, for planners and for the resident themself.
func (s *server) getPersonRotationRequests(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	if err := s.mayActForPerson(r, id, "you may read your own rotation requests only"); err != nil {
		return err
	}
	reqs, err := s.Scheduling.RotationRequests(r.Context(), year)
	if err != nil {
		return err
	}
	mine := []roster.RotationRequest{}
	for _, q := range reqs {
		if q.PersonID == id {
			mine = append(mine, q)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"academic_year": year, "person_id": id, "items": mine, "total": len(mine)})
	return nil
}

// mayActForPerson refuses (403, with why) a caller who does not manage leave and is not the
// person id.
func (s *server) mayActForPerson(r *http.Request, id, why string) error {
	if isManager(principal(r), rbac.Leave) {
		return nil
	}
	own, err := s.ownPerson(r)
	if err != nil {
		return err
	}
	if own != id {
		return errStatus(http.StatusForbidden, why)
	}
	return nil
}

// rotationRequestBody is one request of PUT /rotation-requests.
type rotationRequestBody struct {
	PersonID   string `json:"person_id"`
	Block      *int   `json:"block_number"`
	RotationID string `json:"rotation_id"`
	Avoid      bool   `json:"avoid"`
	Weight     int    `json:"weight"`
}

func (b rotationRequestBody) request() (roster.RotationRequest, string) {
	switch {
	case !scheduling.ValidID(b.PersonID):
		return roster.RotationRequest{}, "person_id must be a UUID"
	case !scheduling.ValidID(b.RotationID):
		return roster.RotationRequest{}, "rotation_id must be a UUID"
	case b.Block == nil:
		return roster.RotationRequest{}, "block_number is required (0 to 13)"
	}
	return roster.RotationRequest{PersonID: b.PersonID, Block: *b.Block, RotationID: b.RotationID, Avoid: b.Avoid, Weight: b.Weight}, ""
}

// putRotationRequests replaces a year's rotation requests: PUT /rotation-requests?year=.
func (s *server) putRotationRequests(w http.ResponseWriter, r *http.Request) error {
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	var b struct {
		Requests []rotationRequestBody `json:"requests"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.Requests == nil {
		return errStatus(http.StatusUnprocessableEntity, "requests is required (an empty list clears the year)")
	}
	reqs, err := convertAll(b.Requests, scheduling.MaxRotationRequests, "request", "requests", rotationRequestBody.request)
	if err != nil {
		return err
	}
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		before, err := svc.ReplaceRotationRequests(r.Context(), year, reqs)
		return event{"rotation_requests.replace", "rotation_requests:" + strconv.Itoa(int(year)),
			map[string]any{"academic_year": int(year), "requests": len(reqs), "replaced": before}}, err
	})
	if err != nil {
		return err
	}
	return s.getRotationRequests(w, r)
}

// solveBlockPlan runs the annual planner: POST /block-plan/solve?year=[&dry_run=true]. A dry
// run answers the proposed plan and its confirm token; the apply must send that token and
// writes the plan only if nothing changed since.
func (s *server) solveBlockPlan(w http.ResponseWriter, r *http.Request) error {
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	var b struct {
		scheduling.AnnualOptions
		Confirm string `json:"confirm"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	dry := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		if dry, err = strconv.ParseBool(v); err != nil {
			return errStatus(http.StatusUnprocessableEntity, "dry_run must be true or false")
		}
	}
	if !dry {
		// A missing or other year's token is refused before any solve.
		if err := scheduling.CheckAnnualConfirm(year, b.Confirm); err != nil {
			return err
		}
	}
	// The solve takes seconds: the answer may come later than the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(5 * time.Minute))
	out, err := s.Scheduling.SolveAnnualPlan(r.Context(), year, b.AnnualOptions)
	if err != nil {
		return err
	}
	if dry {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	// The apply: the plan solved above (outside any lock) is written if it is the preview's and
	// the inputs under the locks are still those it was solved from.
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		err := svc.ApplyAnnualPlan(r.Context(), year, b.AnnualOptions, b.Confirm, out)
		ev := event{"block_plan.solve", "block_plan:" + strconv.Itoa(int(year)), map[string]any{"academic_year": int(year),
			"replan": b.Replan, "iterations": b.Iterations, "seed": b.Seed}}
		ev.details["added"], ev.details["kept"], ev.details["cost"] = out.Added, out.Kept, out.Cost.Total
		ev.details["lower_bound"], ev.details["unplaced"] = out.LowerBound, out.Cost.Unplaced
		return ev, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// putPersonRotationRequests replaces one resident's requests of a year:
// PUT /people/{id}/rotation-requests?year=. Coordinators and administrators set anyone's;
// a resident (or anyone managing leave only for themselves) sets their own only.
func (s *server) putPersonRotationRequests(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	var b struct {
		Requests []rotationRequestBody `json:"requests"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if err := s.mayActForPerson(r, id, "you may set your own rotation requests only"); err != nil {
		return err
	}
	if b.Requests == nil {
		return errStatus(http.StatusUnprocessableEntity, "requests is required (an empty list clears yours for the year)")
	}
	reqs, err := convertAll(b.Requests, scheduling.MaxPersonRotationRequests, "request", "requests", func(q rotationRequestBody) (roster.RotationRequest, string) {
		if q.PersonID == "" {
			q.PersonID = id
		}
		x, msg := q.request()
		if msg == "" && x.PersonID != id {
			msg = "person_id must be the path's person (or left out)"
		}
		return x, msg
	})
	if err != nil {
		return err
	}
	var before int
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		before, err = svc.ReplacePersonRotationRequests(r.Context(), year, id, reqs)
		return event{"person_rotation_requests.replace", "person:" + id,
			map[string]any{"academic_year": int(year), "requests": len(reqs), "replaced": before}}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"academic_year": year, "person_id": id, "items": reqs, "total": len(reqs), "replaced": before})
	return nil
}
