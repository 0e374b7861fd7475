package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"time"

	"github.com/rsched/rsched/hack/load/loadgen"
)

// driveOptions describe one scenario: conns closed-loop clients sending GET url with header.
// hack/load/loadgen builds its own plain client; the scenarios here need the run's CA in the
// client and, for the handshake scenario, a new connection per request, hence this small driver
// with loadgen's accounting (only requests started inside the window count, percentiles by
// nearest rank over every latency).
type driveOptions struct {
	client           *http.Client
	url              string
	header           http.Header
	conns            int
	warmup, duration time.Duration
	// serverCPU, when set, reads the CPU time the server has used so far; it is read when the
	// window starts and after the last measured request.
	serverCPU func() (time.Duration, error)
	// meter, when set, measures the share of the machine other work took over the window.
	meter *cpuMeter
}

// driveResult is loadgen's result plus the TLS handshakes the measured requests made.
type driveResult struct {
	loadgen.Result
	// Handshakes counts TLS handshakes completed for measured requests; Resumed those that
	// resumed a session (none expected: the clients keep no session cache).
	Handshakes, Resumed int
	// ServerCPU is the CPU time the server used over the measured window (0: not measured).
	ServerCPU time.Duration
	// Others is the share of all cores other work used over the window (-1: not measured).
	Others float64
}

// CPUPerRequest is the server's CPU time per measured request (0: not measured).
func (r driveResult) CPUPerRequest() time.Duration {
	if r.ServerCPU <= 0 || r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Requests)
}

func (r driveResult) String() string {
	return fmt.Sprintf("%s handshakes=%d resumed=%d server_cpu_per_req=%s", r.Result.String(), r.Handshakes, r.Resumed, micros(r.CPUPerRequest()))
}

// percent formats a share as a whole percentage, "-" when not measured (negative).
func percent(share float64) string {
	if share < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*share)
}

// micros formats d in microseconds, "-" when zero (not measured).
func micros(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fus", float64(d)/float64(time.Microsecond))
}

type driver struct {
	latencies          []time.Duration
	status             map[int]int
	errors             int
	samples            []string
	handshakes, resume int
	lastDone           time.Time
}

func drive(ctx context.Context, o driveOptions) driveResult {
	start := time.Now().Add(o.warmup)
	end := start.Add(o.duration)
	ds := make([]*driver, o.conns)
	var wg sync.WaitGroup
	var cpuStart time.Duration
	var cpuErr, meterErr error
	var machineStart cpuSample
	if o.serverCPU != nil || o.meter != nil {
		wg.Go(func() {
			select {
			case <-time.After(time.Until(start)):
				if o.serverCPU != nil {
					cpuStart, cpuErr = o.serverCPU()
				}
				if o.meter != nil {
					machineStart, meterErr = o.meter.sample()
				}
			case <-ctx.Done():
				cpuErr, meterErr = ctx.Err(), ctx.Err()
			}
		})
	}
	for i := range ds {
		d := &driver{status: map[int]int{}}
		ds[i] = d
		wg.Go(func() { d.loop(ctx, o, start, end) })
	}
	wg.Wait()
	var cpuEnd time.Duration
	if o.serverCPU != nil && cpuErr == nil {
		cpuEnd, cpuErr = o.serverCPU()
	}
	others := -1.0
	if o.meter != nil && meterErr == nil {
		if machineEnd, err := o.meter.sample(); err == nil {
			others = othersShare(machineStart, machineEnd)
		}
	}
	if t, ok := o.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}

	res := driveResult{Result: loadgen.Result{Status: map[int]int{}}, Others: others}
	if o.serverCPU != nil && cpuErr == nil {
		res.ServerCPU = cpuEnd - cpuStart
	}
	merge(&res, ds, start, end)
	return res
}

// merge adds up the drivers' counts and latencies into res.
func merge(res *driveResult, ds []*driver, start, end time.Time) {
	var all []time.Duration
	last := end
	for _, d := range ds {
		all = append(all, d.latencies...)
		for code, n := range d.status {
			res.Status[code] += n
		}
		res.Errors += d.errors
		res.Handshakes += d.handshakes
		res.Resumed += d.resume
		for _, s := range d.samples {
			if len(res.ErrorSamples) < 5 && !slices.Contains(res.ErrorSamples, s) {
				res.ErrorSamples = append(res.ErrorSamples, s)
			}
		}
		if d.lastDone.After(last) {
			last = d.lastDone
		}
	}
	res.Requests = len(all) + res.Errors
	res.Elapsed = last.Sub(start)
	if res.Elapsed > 0 {
		res.RPS = float64(res.Requests) / res.Elapsed.Seconds()
	}
	slices.Sort(all)
	res.P50, res.P90, res.P99 = loadgen.Percentile(all, 0.50), loadgen.Percentile(all, 0.90), loadgen.Percentile(all, 0.99)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
}

func (d *driver) loop(ctx context.Context, o driveOptions, start, end time.Time) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		var handshakes, resumed int
		trace := &httptrace.ClientTrace{TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			if err == nil {
				handshakes++
				if st.DidResume {
					resumed++
				}
			}
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, o.url, nil)
		if err != nil {
			d.fail(err)
			return
		}
		req.Header = o.header.Clone()
		code, err := send(o.client, req)
		done := time.Now()
		if ctx.Err() != nil || t0.Before(start) {
			continue // interrupted, or warm-up: not counted
		}
		d.lastDone = done
		d.handshakes += handshakes
		d.resume += resumed
		if err != nil {
			d.fail(err)
			continue
		}
		d.status[code]++
		d.latencies = append(d.latencies, done.Sub(t0))
	}
}

func (d *driver) fail(err error) {
	d.errors++
	if msg := err.Error(); len(d.samples) < 5 && !slices.Contains(d.samples, msg) {
		d.samples = append(d.samples, msg)
	}
}

// send reads the whole body, so a kept-alive connection goes back to the pool.
func send(hc *http.Client, req *http.Request) (int, error) {
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
