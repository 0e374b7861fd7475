package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// limitNames are the named per-address limits (route.Limit, namedLimit), whose refusals
// rsched_rate_limited_total counts.
var limitNames = []string{"login", "register", "refresh", "mfa", "csp"}

// httpMetrics are the API's request metrics, labelled by route pattern (never by raw path, which
// would let clients create series at will).
type httpMetrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rsched_http_requests_total", Help: "API requests by route pattern, method and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rsched_http_request_duration_seconds", Help: "API request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rsched_rate_limited_total", Help: "Requests refused by a shared rate limit, by limit name.",
		}, []string{"limit"}),
	}
	// At 0 from the start, so that increase() sees the first refusal of each limit.
	for _, l := range limitNames {
		m.rateLimited.WithLabelValues(l)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.rateLimited)
	}
	return m
}

func (m *httpMetrics) observe(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}
