package keyprobe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const textType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// marker is planted in every bad page: no error may repeat it.
const marker = "s3cr3t-marker"

// serve answers every request with status, Content-Type and body, and counts the requests.
func serve(t *testing.T, status int, contentType, body string) (url string, requests *atomic.Int32) {
	t.Helper()
	requests = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing either
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics", requests
}

const fullPage = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP rsched_keyring_version Version of the keyring in use.
# TYPE rsched_keyring_version gauge
rsched_keyring_version 7
# HELP rsched_fields_rewrap_active_key_info The active encryption key of the last completed rewrap pass.
# TYPE rsched_fields_rewrap_active_key_info gauge
rsched_fields_rewrap_active_key_info{kid="fields-7"} 1
# HELP rsched_fields_rewrap_failed Encrypted fields the last completed rewrap pass could not open.
# TYPE rsched_fields_rewrap_failed gauge
rsched_fields_rewrap_failed 2
# HELP rsched_fields_rewrap_last_run_timestamp_seconds Unix time the last completed rewrap pass started.
# TYPE rsched_fields_rewrap_last_run_timestamp_seconds gauge
rsched_fields_rewrap_last_run_timestamp_seconds 1.7950000015e+09
# HELP rsched_fields_rewrap_pending Encrypted fields still sealed with another key.
# TYPE rsched_fields_rewrap_pending gauge
rsched_fields_rewrap_pending 5
# HELP rsched_fields_rewrapped_total Encrypted fields re-sealed with the active key.
# TYPE rsched_fields_rewrapped_total counter
rsched_fields_rewrapped_total 12
`

func TestScrapeReadsKeyringVersionAndRewrapProgress(t *testing.T) {
	tests := []struct {
		name string
		page string
		want Report
	}{
		{"every metric", fullPage, Report{KeyringVersion: 7, HasKeyring: true, Rewrap: &Rewrap{
			ActiveKID: "fields-7", Pending: 5, Failed: 2, StartedAt: time.Unix(1795000001, 500_000_000).UTC()}}},
		{"before the first completed pass: counts only, no key", "rsched_keyring_version 3\nrsched_fields_rewrap_pending 0\nrsched_fields_rewrap_failed 0\n",
			Report{KeyringVersion: 3, HasKeyring: true, Rewrap: &Rewrap{}}},
		{"a server without rewrap metrics", "# TYPE rsched_keyring_version gauge\nrsched_keyring_version 1\n",
			Report{KeyringVersion: 1, HasKeyring: true}},
		{"not a scheduler at all", "# TYPE up gauge\nup 1\n", Report{}},
		{"an empty page", "", Report{}},
		{"untyped samples, as a page without TYPE lines has", "rsched_keyring_version 2\n", Report{KeyringVersion: 2, HasKeyring: true}},
		{"version 0", "rsched_keyring_version 0\n", Report{KeyringVersion: 0, HasKeyring: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := serve(t, 200, textType, tt.page)
			got, err := Scrape(t.Context(), nil, url)
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyringVersion != tt.want.KeyringVersion || got.HasKeyring != tt.want.HasKeyring || (got.Rewrap == nil) != (tt.want.Rewrap == nil) {
				t.Fatalf("got %+v (rewrap %+v), want %+v (rewrap %+v)", got, got.Rewrap, tt.want, tt.want.Rewrap)
			}
			if got.Rewrap != nil && *got.Rewrap != *tt.want.Rewrap {
				t.Fatalf("rewrap %+v, want %+v", *got.Rewrap, *tt.want.Rewrap)
			}
		})
	}
}

func TestScrapeRefusesMalformedPagesWithoutEchoingThem(t *testing.T) {
	const (
		ver     = "rsched_keyring_version 4\n"
		counts  = "rsched_fields_rewrap_pending 0\nrsched_fields_rewrap_failed 0\n"
		started = "rsched_fields_rewrap_last_run_timestamp_seconds 1.795e+09\n"
		key     = `rsched_fields_rewrap_active_key_info{kid="fields-4"} 1` + "\n"
	)
	tests := []struct {
		name        string
		status      int
		contentType string
		page        string
		wantErr     string
	}{
		{"server error", 500, "text/plain", marker, "status 500"},
		{"not found", 404, textType, ver, "status 404"},
		{"an HTML page", 200, "text/html; charset=utf-8", "<html>" + marker + "</html>", "not a Prometheus text page"},
		{"no Content-Type", 200, "", ver, "not a Prometheus text page"},
		{"OpenMetrics, which was not asked for", 200, "application/openmetrics-text; version=1.0.0; charset=utf-8", ver + "# EOF\n", "not a Prometheus text page"},
		{"a newer text version", 200, "text/plain; version=9.9.9", ver, "not a Prometheus text page"},
		{"a value that is no number", 200, textType, "rsched_keyring_version " + marker + "\n", "line 1"},
		{"a broken label set", 200, textType, ver + `rsched_fields_rewrap_active_key_info{kid="` + marker + "\n", "line 2"},
		{"garbage", 200, textType, "{" + marker + "}\n", "not a valid Prometheus text page"},
		{"two keyring versions", 200, textType, ver + `rsched_keyring_version{pod="` + marker + `"} 5` + "\n", "rsched_keyring_version: 2 series"},
		{"a negative version", 200, textType, "rsched_keyring_version -1\n", "rsched_keyring_version: not a whole"},
		{"a fractional version", 200, textType, "rsched_keyring_version 1.5\n", "rsched_keyring_version: not a whole"},
		{"a NaN version", 200, textType, "rsched_keyring_version NaN\n", "rsched_keyring_version: not a whole"},
		{"an infinite version", 200, textType, "rsched_keyring_version +Inf\n", "rsched_keyring_version: not a whole"},
		{"a version as a counter", 200, textType, "# TYPE rsched_keyring_version counter\nrsched_keyring_version 4\n", "rsched_keyring_version: type COUNTER"},
		{"a labelled version", 200, textType, `rsched_keyring_version{x="y"} 4` + "\n", "rsched_keyring_version: unexpected labels"},
		{"pending without failed", 200, textType, ver + "rsched_fields_rewrap_pending 0\n", "rewrap metrics incomplete"},
		{"a key without counts", 200, textType, ver + key + started, "rewrap metrics incomplete"},
		{"a key without its start time", 200, textType, ver + counts + key, "rewrap metrics incomplete"},
		{"a start time without its key", 200, textType, ver + counts + started, "rewrap metrics incomplete"},
		{"negative pending", 200, textType, ver + "rsched_fields_rewrap_pending -3\nrsched_fields_rewrap_failed 0\n", "rsched_fields_rewrap_pending: not a whole"},
		{"two active keys", 200, textType, ver + counts + started + key + `rsched_fields_rewrap_active_key_info{kid="fields-3"} 1` + "\n", "rsched_fields_rewrap_active_key_info: 2 series"},
		{"a key with value 0", 200, textType, ver + counts + started + `rsched_fields_rewrap_active_key_info{kid="fields-4"} 0` + "\n", "value is not 1"},
		{"a key without kid", 200, textType, ver + counts + started + `rsched_fields_rewrap_active_key_info{key="fields-4"} 1` + "\n", "unexpected labels"},
		{"an empty kid", 200, textType, ver + counts + started + `rsched_fields_rewrap_active_key_info{kid=""} 1` + "\n", "missing or malformed kid"},
		{"a kid that no keyring allows", 200, textType, ver + counts + started + `rsched_fields_rewrap_active_key_info{kid="fields 4 ` + marker + `"} 1` + "\n", "missing or malformed kid"},
		{"a kid too long", 200, textType, ver + counts + started + `rsched_fields_rewrap_active_key_info{kid="` + strings.Repeat("k", 65) + `"} 1` + "\n", "missing or malformed kid"},
		{"a start time of zero", 200, textType, ver + counts + key + "rsched_fields_rewrap_last_run_timestamp_seconds 0\n", "rsched_fields_rewrap_last_run_timestamp_seconds: not a time"},
		{"a start time of NaN", 200, textType, ver + counts + key + "rsched_fields_rewrap_last_run_timestamp_seconds NaN\n", "not a time"},
		{"a page over 4 MiB", 200, textType, ver + strings.Repeat("# "+marker+"\n", MaxPageSize/len(marker)), "larger than 4194304 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, requests := serve(t, tt.status, tt.contentType, tt.page)
			r, err := Scrape(t.Context(), &http.Client{Timeout: 10 * time.Second}, url)
			if err == nil {
				t.Fatalf("no error; report %+v", r)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "keyprobe: ") {
				t.Fatalf("error %q, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), marker) {
				t.Fatalf("the error repeats the page: %q", err)
			}
			t.Log(err)
			if n := requests.Load(); n != 1 {
				t.Fatalf("%d requests, want exactly one (no retries)", n)
			}
		})
	}
}

// Exactly 4 MiB is still read: the bound is on what the server sends, not one byte less.
func TestScrapeReadsAPageOfExactlyTheLimit(t *testing.T) {
	head := "rsched_keyring_version 4\n"
	pad := MaxPageSize - len(head)
	page := head + "#" + strings.Repeat(" ", pad-2) + "\n"
	if len(page) != MaxPageSize {
		t.Fatalf("page of %d bytes", len(page))
	}
	url, _ := serve(t, 200, textType, page)
	r, err := Scrape(t.Context(), nil, url)
	if err != nil || !r.HasKeyring || r.KeyringVersion != 4 {
		t.Fatalf("report %+v, error %v", r, err)
	}
}

// A pod that accepts the connection and never answers must not hold the reconcile: the caller's
// context ends the scrape.
func TestScrapeHonoursTheContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", textType)
		w.WriteHeader(200)
		_, _ = w.Write([]byte("rsched_keyring_version 1\n"))
		w.(http.Flusher).Flush() // headers and part of the page sent, then nothing more
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Scrape(ctx, nil, srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestScrapeAsksForTheTextFormat(t *testing.T) {
	var accept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept.Store(r.Header.Get("Accept"))
		w.Header().Set("Content-Type", textType)
		_, _ = w.Write([]byte("rsched_keyring_version 1\n"))
	}))
	defer srv.Close()
	if _, err := Scrape(t.Context(), nil, srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := accept.Load(); got != "text/plain;version=0.0.4" {
		t.Fatalf("Accept %q", got)
	}
}

func TestScrapeRefusesABadURL(t *testing.T) {
	if _, err := Scrape(t.Context(), nil, "::not a url"); err == nil || !strings.HasPrefix(err.Error(), "keyprobe: ") {
		t.Fatalf("error %v", err)
	}
}
