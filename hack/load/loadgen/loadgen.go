package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options describe one run.
type Options struct {
	// URL is the endpoint; required.
	URL string
	// Method defaults to GET.
	Method string
	// Header is sent with every request. A "Host" entry sets the request's Host.
	Header http.Header
	// Body is sent with every request when not nil.
	Body []byte
	// Concurrency is the number of clients, each with at most one request in flight. Default 32.
	Concurrency int
	// Duration is how long requests are measured. Default 10s.
	Duration time.Duration
	// Warmup runs the same load before the measurement without counting it (connections get
	// established, the server's caches and pools fill). Zero: no warm-up.
	Warmup time.Duration
	// Timeout bounds one request. Default 30s.
	Timeout time.Duration
}

// Result is what one run measured. Only requests started inside the measured window count; those
// still in flight at its end are waited for and counted, so the slow tail is never cut off.
type Result struct {
	// Requests is the number of measured requests (responses plus transport errors).
	Requests int
	// WarmupRequests were sent during the warm-up and are not in any other figure.
	WarmupRequests int
	// Elapsed runs from the start of the window to the last measured completion.
	Elapsed time.Duration
	// RPS is Requests / Elapsed.
	RPS float64
	// Latency percentiles (nearest rank) and maximum over the measured requests that got a
	// response; transport errors have no latency.
	P50 time.Duration
	P90 time.Duration
	P99 time.Duration
	Max time.Duration
	// Status counts responses by status code.
	Status map[int]int
	// Errors counts transport errors (no response).
	Errors int
	// ErrorSamples holds up to five distinct transport error messages.
	ErrorSamples []string
}

// MarshalJSON writes the result with latencies in milliseconds and the elapsed time in seconds.
func (r Result) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return json.Marshal(struct {
		Requests       int         `json:"requests"`
		WarmupRequests int         `json:"warmup_requests"`
		ElapsedSeconds float64     `json:"elapsed_s"`
		RPS            float64     `json:"rps"`
		P50            float64     `json:"p50_ms"`
		P90            float64     `json:"p90_ms"`
		P99            float64     `json:"p99_ms"`
		Max            float64     `json:"max_ms"`
		Status         map[int]int `json:"status"`
		Non2xx         int         `json:"non2xx"`
		Errors         int         `json:"errors"`
		ErrorSamples   []string    `json:"error_samples,omitempty"`
	}{r.Requests, r.WarmupRequests, r.Elapsed.Seconds(), r.RPS, ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max),
		r.Status, r.Non2xx(), r.Errors, r.ErrorSamples})
}

// Non2xx is the number of responses with a status outside 200-299.
func (r Result) Non2xx() int {
	n := 0
	for code, c := range r.Status {
		if code < 200 || code > 299 {
			n += c
		}
	}
	return n
}

// OK reports whether every measured request got a 2xx response.
func (r Result) OK() bool { return r.Errors == 0 && r.Non2xx() == 0 && r.Requests > 0 }

// String is the one-line summary: rps=… p50=… p90=… p99=… max=… n=… non2xx=… errors=….
func (r Result) String() string {
	return fmt.Sprintf("rps=%.1f p50=%s p90=%s p99=%s max=%s n=%d non2xx=%d errors=%d",
		r.RPS, Millis(r.P50), Millis(r.P90), Millis(r.P99), Millis(r.Max), r.Requests, r.Non2xx(), r.Errors)
}

// StatusSummary lists the counts by status code in code order: "200:1234 503:5".
func (r Result) StatusSummary() string {
	codes := make([]int, 0, len(r.Status))
	for code := range r.Status {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, code := range codes {
		parts[i] = strconv.Itoa(code) + ":" + strconv.Itoa(r.Status[code])
	}
	return strings.Join(parts, " ")
}

// Millis formats d as milliseconds with two decimals, the unit wrk prints: "1.23ms".
func Millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// NewClient returns a client whose transport keeps one idle connection per client, so the
// measurement never includes connection set-up after the warm-up. It ignores proxy settings from
// the environment: a benchmark measures the server, not a proxy in between.
func NewClient(concurrency int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true, // like wrk: no Accept-Encoding, the body is read as sent
			DisableKeepAlives:   false,
		},
		// A benchmark measures the endpoint it was given, never a redirect target.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// client is one closed-loop client's record; only its own goroutine writes it.
type client struct {
	latencies []time.Duration
	status    map[int]int
	errors    int
	errSample []string
	warmup    int
	lastDone  time.Time
}

// Run sends requests for opts.Warmup plus opts.Duration and returns what was measured. When ctx
// ends first, Run returns what it measured so far with ctx's error.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.URL == "" {
		return Result{}, errors.New("loadgen: URL is required")
	}
	if opts.Method == "" {
		opts.Method = http.MethodGet
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	// Build one request up front so a malformed URL or method fails before any load.
	if _, err := newRequest(ctx, opts); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	httpClient := NewClient(opts.Concurrency, opts.Timeout)
	defer httpClient.CloseIdleConnections()

	start := time.Now().Add(opts.Warmup) // the measured window
	end := start.Add(opts.Duration)
	clients := make([]*client, opts.Concurrency)
	var wg sync.WaitGroup
	for i := range clients {
		c := &client{status: map[int]int{}}
		clients[i] = c
		wg.Go(func() { c.loop(ctx, httpClient, opts, start, end) })
	}
	wg.Wait()

	res := merge(clients, start, end)
	return res, ctx.Err()
}

func (c *client) loop(ctx context.Context, hc *http.Client, opts Options, start, end time.Time) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		req, err := newRequest(ctx, opts)
		if err != nil { // cannot happen after Run's check; reported rather than lost
			c.fail(err)
			return
		}
		code, err := do(hc, req)
		done := time.Now()
		if ctx.Err() != nil {
			return // interrupted: neither a result nor an error of the server
		}
		if t0.Before(start) {
			c.warmup++
			continue
		}
		c.lastDone = done
		if err != nil {
			c.fail(err)
			continue
		}
		c.status[code]++
		c.latencies = append(c.latencies, done.Sub(t0))
	}
}

func (c *client) fail(err error) {
	c.errors++
	msg := err.Error()
	if len(c.errSample) < 5 && !slices.Contains(c.errSample, msg) {
		c.errSample = append(c.errSample, msg)
	}
}

func newRequest(ctx context.Context, opts Options) (*http.Request, error) {
	var body io.Reader
	if opts.Body != nil {
		body = bytes.NewReader(opts.Body)
	}
	req, err := http.NewRequestWithContext(ctx, opts.Method, opts.URL, body)
	if err != nil {
		return nil, err
	}
	for name, values := range opts.Header {
		if http.CanonicalHeaderKey(name) == "Host" {
			req.Host = values[0]
			continue
		}
		req.Header[http.CanonicalHeaderKey(name)] = values
	}
	return req, nil
}

// do sends req and reads the whole body, so the connection goes back to the pool.
func do(hc *http.Client, req *http.Request) (int, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("reading the response body: %w", err)
	}
	return resp.StatusCode, nil
}

func merge(clients []*client, start, end time.Time) Result {
	res := Result{Status: map[int]int{}}
	total := 0
	for _, c := range clients {
		total += len(c.latencies)
	}
	all := make([]time.Duration, 0, total)
	last := end
	for _, c := range clients {
		all = append(all, c.latencies...)
		for code, n := range c.status {
			res.Status[code] += n
		}
		res.Errors += c.errors
		res.WarmupRequests += c.warmup
		for _, s := range c.errSample {
			if len(res.ErrorSamples) < 5 && !slices.Contains(res.ErrorSamples, s) {
				res.ErrorSamples = append(res.ErrorSamples, s)
			}
		}
		if c.lastDone.After(last) {
			last = c.lastDone
		}
	}
	res.Requests = len(all) + res.Errors
	res.Elapsed = last.Sub(start)
	if now := time.Now(); now.Before(end) { // interrupted: the window ended now
		res.Elapsed = now.Sub(start)
	}
	if res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
	slices.Sort(all)
	res.P50, res.P90, res.P99 = Percentile(all, 0.50), Percentile(all, 0.90), Percentile(all, 0.99)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
	return res
}

// Percentile is the nearest-rank p-quantile (0 < p <= 1) of sorted: the smallest value with at
// least p of the values at or below it. Zero for an empty slice.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
