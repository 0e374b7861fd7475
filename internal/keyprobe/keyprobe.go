package keyprobe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxPageSize bounds what Scrape reads; the server's page is a few tens of kilobytes.
const MaxPageSize = 4 << 20

// Report is what one pod's metrics page says.
type Report struct {
	// KeyringVersion is the version of the keyring the pod has loaded; valid when HasKeyring.
	KeyringVersion int64
	// HasKeyring is false when the page has no keyring version (not a scheduler, or one that
	// predates the metric).
	HasKeyring bool
	// Rewrap is the outcome of the last completed rewrap pass; nil when the page has no rewrap
	// metrics.
	Rewrap *Rewrap
}

// Rewrap is the outcome of the pod's last completed rewrap pass. A pass that failed half-way is
// never reported: the server keeps the previous completed pass on its page.
type Rewrap struct {
	// ActiveKID is the active encryption key the pass re-encrypted to. Empty until the pod has
	// completed its first pass; Pending, Failed and StartedAt mean nothing until then.
	ActiveKID string
	// Pending counts values still under a key other than ActiveKID when the pass ended,
	// Failed those of them the pass could not open (they need a person).
	Pending, Failed int64
	// StartedAt is when the pass started, by the pod's clock.
	StartedAt time.Time
}

// Metric names read from the page.
const (
	metricKeyringVersion = "rsched_keyring_version"
	metricPending        = "rsched_fields_rewrap_pending"
	metricFailed         = "rsched_fields_rewrap_failed"
	metricActiveKey      = "rsched_fields_rewrap_active_key_info"
	metricStarted        = "rsched_fields_rewrap_last_run_timestamp_seconds"
)

// Scrape GETs the Prometheus text page at url once (no retry: the caller's reconcile is the
// retry) and reads the report from it. hc nil means http.DefaultClient; ctx bounds the whole
// exchange. Errors name the URL and what is wrong, never the page's content.
func Scrape(ctx context.Context, hc *http.Client, url string) (*Report, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("keyprobe: %w", err)
	}
	// The classic text format, which every promhttp handler serves and the parser reads.
	req.Header.Set("Accept", "text/plain;version="+expfmt.TextVersion)
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keyprobe: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		// Read a little so the connection can be reused, and say nothing of it.
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return nil, fmt.Errorf("keyprobe: GET %s: status %d", url, res.StatusCode)
	}
	if expfmt.ResponseFormat(res.Header).FormatType() != expfmt.TypeTextPlain {
		return nil, fmt.Errorf("keyprobe: GET %s: not a Prometheus text page (Content-Type %.64q)", url, res.Header.Get("Content-Type"))
	}
	page, err := io.ReadAll(io.LimitReader(res.Body, MaxPageSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyprobe: GET %s: reading the page: %w", url, err)
	}
	if len(page) > MaxPageSize {
		return nil, fmt.Errorf("keyprobe: GET %s: the page is larger than %d bytes", url, MaxPageSize)
	}
	r, err := parse(page)
	if err != nil {
		return nil, fmt.Errorf("keyprobe: GET %s: %w", url, err)
	}
	return r, nil
}

// parse reads the report from a text page.
func parse(page []byte) (*Report, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		// The parser quotes the offending token; the line number is enough and echoes nothing.
		var pe expfmt.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("not a valid Prometheus text page (line %d)", pe.Line)
		}
		return nil, errors.New("not a valid Prometheus text page")
	}
	r := &Report{}
	if mf := fams[metricKeyringVersion]; mf != nil {
		v, err := single(mf)
		if err == nil {
			r.KeyringVersion, err = count(v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", metricKeyringVersion, err)
		}
		r.HasKeyring = true
	}
	r.Rewrap, err = rewrap(fams)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// rewrap reads the rewrap metrics: pending and failed are always there together; the key and the
// start time appear together once a pass has completed.
func rewrap(fams map[string]*dto.MetricFamily) (*Rewrap, error) {
	pending, failed, key, started := fams[metricPending], fams[metricFailed], fams[metricActiveKey], fams[metricStarted]
	if pending == nil && failed == nil && key == nil && started == nil {
		return nil, nil
	}
	if pending == nil || failed == nil {
		return nil, fmt.Errorf("rewrap metrics incomplete: %s and %s must both be present", metricPending, metricFailed)
	}
	if (key == nil) != (started == nil) {
		return nil, fmt.Errorf("rewrap metrics incomplete: %s and %s must both be present or both absent", metricActiveKey, metricStarted)
	}
	rw := &Rewrap{}
	for _, c := range []struct {
		mf  *dto.MetricFamily
		dst *int64
	}{{pending, &rw.Pending}, {failed, &rw.Failed}} {
		v, err := single(c.mf)
		if err == nil {
			*c.dst, err = count(v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.mf.GetName(), err)
		}
	}
	if key == nil {
		return rw, nil
	}
	kid, err := activeKID(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", metricActiveKey, err)
	}
	v, err := single(started)
	if err == nil && (math.IsNaN(v) || math.IsInf(v, 0) || v <= 0) {
		err = errors.New("not a time")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", metricStarted, err)
	}
	sec, frac := math.Modf(v)
	rw.ActiveKID, rw.StartedAt = kid, time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
	return rw, nil
}

// single is the value of a gauge (or untyped) family with exactly one unlabelled series.
func single(mf *dto.MetricFamily) (float64, error) {
	if err := gaugeLike(mf); err != nil {
		return 0, err
	}
	if n := len(mf.GetMetric()); n != 1 {
		return 0, fmt.Errorf("%d series, want 1", n)
	}
	m := mf.GetMetric()[0]
	if len(m.GetLabel()) != 0 {
		return 0, errors.New("unexpected labels")
	}
	return value(m), nil
}

// activeKID is the kid label of the one series of the key family, whose value must be 1.
func activeKID(mf *dto.MetricFamily) (string, error) {
	if err := gaugeLike(mf); err != nil {
		return "", err
	}
	if n := len(mf.GetMetric()); n != 1 {
		return "", fmt.Errorf("%d series, want 1", n)
	}
	m := mf.GetMetric()[0]
	if value(m) != 1 {
		return "", errors.New("value is not 1")
	}
	var kid string
	for _, l := range m.GetLabel() {
		if l.GetName() != "kid" {
			return "", errors.New("unexpected labels")
		}
		kid = l.GetValue()
	}
	if !validKID(kid) {
		return "", errors.New("missing or malformed kid label")
	}
	return kid, nil
}

// validKID follows the keyring's kid syntax (docs/keyring.md): 1-64 of A-Z a-z 0-9 . _ -. What
// is not a kid is refused rather than carried into the operator's status.
func validKID(kid string) bool {
	if len(kid) == 0 || len(kid) > 64 {
		return false
	}
	for _, c := range []byte(kid) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func gaugeLike(mf *dto.MetricFamily) error {
	if t := mf.GetType(); t != dto.MetricType_GAUGE && t != dto.MetricType_UNTYPED {
		return fmt.Errorf("type %s, want gauge", t)
	}
	return nil
}

func value(m *dto.Metric) float64 {
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// maxCount is the largest float64 below which every integer is exact.
const maxCount = 1 << 53

// count is v as a non-negative whole number.
func count(v float64) (int64, error) {
	if math.IsNaN(v) || v < 0 || v > maxCount || v != math.Trunc(v) {
		return 0, errors.New("not a whole non-negative number")
	}
	return int64(v), nil
}
