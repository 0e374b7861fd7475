package apiload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/roster"
)

// Client calls one scheduler's API with a bearer token (set by SignIn, or given).
type Client struct {
	Base, Token string
	HTTP        *http.Client
}

// Error is a refused API call; it quotes the API's detail, never the token.
type Error struct {
	method, path string
	status       int
	detail       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.detail)
}

// Call sends body as JSON and decodes the answer into out; want lists the accepted statuses.
func (l *Client) Call(ctx context.Context, method, path string, body, out any, want ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.Base+path, rd)
	if err != nil {
		return 0, err
	}
	if l.Token != "" {
		req.Header.Set("Authorization", "Bearer "+l.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := l.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, err
	}
	if !slices.Contains(want, res.StatusCode) {
		var e struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(raw, &e)
		return res.StatusCode, &Error{method, path, res.StatusCode, e.Detail}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: the answer is not JSON: %w", method, path, err)
		}
	}
	return res.StatusCode, nil
}

// MergeAbsences joins a person's overlapping or adjacent absences: the API refuses overlapping
// ones, and the generator draws them independently.
func MergeAbsences(as []roster.Absence) []roster.Absence {
	sorted := slices.Clone(as)
	slices.SortFunc(sorted, func(a, b roster.Absence) int {
		if c := strings.Compare(a.PersonID, b.PersonID); c != 0 {
			return c
		}
		return a.Start.Sub(b.Start)
	})
	var out []roster.Absence
	for _, a := range sorted {
		if n := len(out); n > 0 && out[n-1].PersonID == a.PersonID && !out[n-1].End.AddDays(1).Before(a.Start) {
			if out[n-1].End.Before(a.End) {
				out[n-1].End = a.End
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// Result is what Load did.
type Result struct {
	People      int             `json:"people"`
	Templates   int             `json:"rotation_templates"`
	Absences    int             `json:"absences_approved"`
	LoadSeconds float64         `json:"load_seconds"`
	HTTPStatus  int             `json:"generate_status"`
	Run         json.RawMessage `json:"run"`
}

// Load puts p into the server and generates [p.From, p.To] with the given budget.
func (l *Client) Load(ctx context.Context, p *roster.Problem, budget time.Duration, seed uint64) (Result, error) {
	start := time.Now()
	var res Result
	ids := map[string]string{}
	for _, x := range p.People {
		body := map[string]any{"name": x.Name, "type": x.Type}
		if x.Type == roster.Resident {
			body["pgy_level"] = x.PGY
		} else {
			body["max_sessions_per_week"] = x.MaxSessionsPerWeek
		}
		var out struct{ ID string }
		if _, err := l.Call(ctx, "POST", "/api/v1/people", body, &out, http.StatusCreated); err != nil {
			return res, err
		}
		ids[x.ID] = out.ID
		res.People++
	}
	for _, t := range p.Templates {
		body := map[string]any{"name": t.Name, "activity_type": t.Activity, "hours_per_session": t.HoursPerSession, "min_residents": t.MinResidents,
			"max_residents": t.MaxResidents, "allowed_pgy_levels": t.AllowedPGY, "supervision_required": t.SupervisionRequired, "weekends": t.Weekends}
		if t.AllowedPGY == nil {
			body["allowed_pgy_levels"] = []int{}
		}
		var out struct{ ID string }
		if _, err := l.Call(ctx, "POST", "/api/v1/rotation-templates", body, &out, http.StatusCreated); err != nil {
			return res, err
		}
		res.Templates++
	}
	for _, a := range MergeAbsences(p.Absences) {
		var out struct{ ID string }
		body := map[string]any{"person_id": ids[a.PersonID], "start_date": a.Start, "end_date": a.End, "absence_type": "vacation"}
		if _, err := l.Call(ctx, "POST", "/api/v1/absences", body, &out, http.StatusCreated); err != nil {
			return res, err
		}
		if _, err := l.Call(ctx, "POST", "/api/v1/absences/"+out.ID+"/approve", nil, nil, http.StatusOK); err != nil {
			return res, err
		}
		res.Absences++
	}
	res.LoadSeconds = time.Since(start).Seconds()
	body := map[string]any{"start_date": p.From, "end_date": p.To, "time_budget_seconds": budget.Seconds(), "seed": seed}
	status, err := l.Call(ctx, "POST", "/api/v1/schedule/generate", body, &res.Run, http.StatusOK, http.StatusMultiStatus)
	res.HTTPStatus = status
	return res, err
}
