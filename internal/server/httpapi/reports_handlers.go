package httpapi

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/rsched/rsched/internal/server/compliance"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/roster"
)

// reportFormat is the format a report is asked in: format= (json, csv, pdf) or, without it, the
// Accept header (text/csv, application/pdf); JSON otherwise.
func reportFormat(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "json", "csv", "pdf":
		return f, nil
	case "":
	default:
		return "", errStatus(http.StatusUnprocessableEntity, "format must be json, csv or pdf")
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		switch {
		case err != nil:
		case mt == "text/csv":
			return "csv", nil
		case mt == "application/pdf":
			return "pdf", nil
		case mt == "application/json":
			return "json", nil
		}
	}
	return "json", nil
}

func reportPaper(r *http.Request) (string, error) {
	switch strings.ToLower(r.URL.Query().Get("paper")) {
	case "", "a4":
		return compliance.A4, nil
	case "letter":
		return compliance.Letter, nil
	}
	return "", errStatus(http.StatusUnprocessableEntity, "paper must be a4 or letter")
}

// reportScope is whose report the caller may read: anyone's for holders of report:read
// (coordinators, administrators); otherwise only their own person's, which person_id then
// defaults to.
func (s *server) reportScope(r *http.Request, person string) (string, error) {
	if rbac.Allowed(principal(r).Role, rbac.Report, rbac.Read) {
		return person, nil
	}
	own, err := s.ownPerson(r)
	switch {
	case err != nil:
		return "", err
	case own == "":
		return "", errStatus(http.StatusForbidden, "the program's compliance report requires report:read; your account is linked to no person of your own")
	case person != "" && person != own:
		return "", errStatus(http.StatusForbidden, "you may read your own compliance report only")
	}
	return own, nil
}

// complianceReport is the duty-hour compliance report of the stored schedule of a range (at
// most 400 days), for the program or one resident, as JSON, CSV or PDF. Every read is audited
// (report.compliance): it discloses duty-hour records.
func (s *server) complianceReport(w http.ResponseWriter, r *http.Request) error {
	from, to, err := dateRange(r, roster.MaxRangeDays)
	if err != nil {
		return err
	}
	person, err := queryID(r, "person_id")
	if err != nil {
		return err
	}
	format, err := reportFormat(r)
	if err != nil {
		return err
	}
	paper, err := reportPaper(r)
	if err != nil {
		return err
	}
	if person, err = s.reportScope(r, person); err != nil {
		return err
	}
	if person != "" {
		p, err := s.Scheduling.GetPerson(r.Context(), person)
		if err != nil {
			return err
		}
		if p.Type != roster.Resident {
			return errStatus(http.StatusUnprocessableEntity, "person_id names a faculty member; compliance reports are per resident")
		}
	}
	rep, err := s.Scheduling.ComplianceReport(r.Context(), from, to, person)
	if err != nil {
		return err
	}
	target := fmt.Sprintf("schedule:%s..%s", from, to)
	if person != "" {
		target = "person:" + person
	}
	s.record(r, principal(r).ID, "report.compliance", target, map[string]any{"format": format, "start_date": from.String(),
		"end_date": to.String(), "residents": len(rep.Residents)})
	name := fmt.Sprintf("compliance-%s-%s", from, to)
	var buf bytes.Buffer
	switch format {
	case "csv":
		if err := compliance.WriteCSV(&buf, rep); err != nil {
			return err
		}
		return download(w, &buf, "text/csv; charset=utf-8", name+".csv")
	case "pdf":
		if err := compliance.WritePDF(&buf, rep, paper); err != nil {
			return err
		}
		return download(w, &buf, "application/pdf", name+".pdf")
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// download writes a rendered file: rendered in full first, so a failure is still a JSON error.
func download(w http.ResponseWriter, buf *bytes.Buffer, contentType, filename string) error {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, filename))
	_, _ = w.Write(buf.Bytes())
	return nil
}
