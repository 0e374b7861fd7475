package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/rsched/rsched/internal/server/audit"
)

// maxCSPReport bounds a violation report; real ones are well under 2 KiB.
const maxCSPReport = 8 << 10

// cspReport receives Content-Security-Policy violation reports in both formats browsers send
// (report-uri: application/csp-report; report-to: application/reports+json) and audits the
// fields that say what was blocked. It answers 204 to anything well-formed.
func (s *server) cspReport(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/csp-report" && mt != "application/reports+json" && mt != "application/json" {
		return errStatus(http.StatusUnsupportedMediaType, "Content-Type must be application/csp-report or application/reports+json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCSPReport))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errStatus(http.StatusRequestEntityTooLarge, "report larger than 8 KiB")
		}
		return errStatus(http.StatusBadRequest, "report could not be read")
	}
	reports, err := parseCSPReports(body)
	if err != nil {
		return errStatus(http.StatusUnprocessableEntity, err.Error())
	}
	// One audit entry per request, however many reports it carries: the sink is public, and the
	// audit chain appends one entry at a time across all replicas.
	s.record(r, "anonymous", "security.csp.violation", "csp", map[string]any{"reports": reports})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseCSPReports extracts the audited fields of each report (at most 10 per request).
func parseCSPReports(body []byte) ([]map[string]any, error) {
	pick := func(m map[string]any, keys ...string) string {
		for _, k := range keys {
			if v, ok := m[k].(string); ok {
				return clean(v, 256)
			}
		}
		return ""
	}
	summarise := func(m map[string]any) map[string]any {
		return map[string]any{
			"document_uri":       pick(m, "document-uri", "documentURL"),
			"violated_directive": pick(m, "violated-directive", "effectiveDirective", "effective-directive"),
			"blocked_uri":        pick(m, "blocked-uri", "blockedURL"),
			"disposition":        pick(m, "disposition"),
		}
	}
	var legacy struct {
		Report map[string]any `json:"csp-report"`
	}
	if err := json.Unmarshal(body, &legacy); err == nil && legacy.Report != nil {
		return []map[string]any{summarise(legacy.Report)}, nil
	}
	var batch []struct {
		Type string         `json:"type"`
		Body map[string]any `json:"body"`
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, errors.New("not a CSP report: expected {\"csp-report\": {...}} or a Reporting API list")
	}
	var out []map[string]any
	for _, b := range batch {
		if b.Type == "csp-violation" && b.Body != nil && len(out) < 10 {
			out = append(out, summarise(b.Body))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no csp-violation report in the list")
	}
	return out, nil
}

// exportMe returns everything the server holds about the caller (their right of access): the
// account, live sessions, and the audit entries of their own actions. Secrets (password hash,
// TOTP secret, recovery codes, token hashes) are never part of it.
func (s *server) exportMe(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	u, err := s.Accounts.GetUser(r.Context(), p.ID)
	if err != nil {
		return err
	}
	sessions, err := s.Accounts.Sessions(r.Context(), p)
	if err != nil {
		return err
	}
	acts, total, err := s.Audit.List(r.Context(), audit.Filter{Actor: p.ID, Page: 1, PageSize: 10000})
	if err != nil {
		return err
	}
	s.record(r, p.ID, "privacy.export", "user:"+p.ID, nil)
	w.Header().Set("Content-Disposition", `attachment; filename="rsched-export.json"`)
	writeJSON(w, http.StatusOK, map[string]any{"user": u, "sessions": sessions, "activity": acts, "activity_total": total})
	return nil
}
