// Command load drives one HTTP endpoint with N closed-loop clients for a fixed time and prints
// requests/s and exact latency percentiles (every latency is kept and sorted):
//
//	go run ./hack/load -url http://127.0.0.1:8080/api/v1/auth/me -H "Authorization: Bearer $TOKEN" -c 32 -d 10s
//	rps=12345.6 p50=1.23ms p90=2.34ms p99=4.56ms max=9.87ms n=123456 non2xx=0 errors=0
//
// It exits with status 1 when any measured request got a non-2xx response or a transport error,
// and prints the counts by status and the distinct errors. hack/apibench runs the same engine
// (hack/load/loadgen) against a real server.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rsched/rsched/hack/load/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags http.Header

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("%q is not a header such as \"Authorization: Bearer abc\"", s)
	}
	http.Header(h).Add(name, strings.TrimSpace(value))
	return nil
}

// run is the command without the process around it: exit status 0 (all 2xx), 1 (a non-2xx
// response or a transport error) or 2 (usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := loadgen.Options{Header: http.Header{}}
	fs.StringVar(&opts.URL, "url", "", "Endpoint to load (required).")
	fs.StringVar(&opts.Method, "method", http.MethodGet, "HTTP method.")
	fs.Var(headerFlags(opts.Header), "H", `Request header "Name: value" (repeatable).`)
	fs.IntVar(&opts.Concurrency, "c", 32, "Concurrent clients, each with one request in flight.")
	fs.DurationVar(&opts.Duration, "d", 10*time.Second, "Measured duration.")
	fs.DurationVar(&opts.Warmup, "warmup", time.Second, "Load before the measurement, not counted.")
	body := fs.String("body", "", "Request body (none when empty).")
	asJSON := fs.Bool("json", false, "Print one JSON object instead of the text line.")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if opts.URL == "" || fs.NArg() > 0 || opts.Concurrency < 1 || opts.Duration <= 0 || opts.Warmup < 0 {
		fmt.Fprintln(stderr, "load: -url is required; -c must be at least 1, -d positive, -warmup not negative; no arguments")
		fs.Usage()
		return 2
	}
	if *body != "" {
		opts.Body = []byte(*body)
	}

	res, err := loadgen.Run(ctx, opts)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "load:", err)
		return 2
	}
	if *asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 2
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintln(stdout, res)
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "load: interrupted; the figures cover the time until then")
	}
	if res.OK() {
		return 0
	}
	if res.Requests == 0 {
		fmt.Fprintln(stderr, "load: no request was measured")
	}
	if n := res.Non2xx(); n > 0 {
		fmt.Fprintf(stderr, "load: %d non-2xx responses (by status: %s)\n", n, res.StatusSummary())
	}
	if res.Errors > 0 {
		fmt.Fprintf(stderr, "load: %d transport errors, such as:\n", res.Errors)
		for _, e := range res.ErrorSamples {
			fmt.Fprintln(stderr, "  "+e)
		}
	}
	return 1
}
