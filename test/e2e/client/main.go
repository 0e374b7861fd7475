// Command client is the end-to-end tests' client pod: N sessions sign in to the scheduling API,
// then read /auth/me in a loop and refresh their tokens periodically, counting every answer.
// GET /stats (on -listen) reports the counts as JSON; POST /stop ends the load first;
// GET /probe?url=U makes one GET to U from this pod and reports the status or the error (the
// NetworkPolicy scenario asks pods with and without the allowed labels). With -sessions 0 it
// only serves /probe. It runs as
// an image of its own (hack/images -e2e-client) under the restricted Pod Security profile.
//
// It speaks HTTPS only, as a client of an instance does: it trusts the CAs of the file -ca (the
// instance's ConfigMap <instance>-ca mounted in the pod) and nothing else, and verifies
// -server-name (<instance>.<namespace>.svc; the URL's host when empty), also when it dials a pod
// IP. The kubelet updates the mounted file when the operator publishes a new bundle (a CA key
// replacement); the client re-reads it every few seconds and every new connection verifies
// against the bundle it holds then.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type stats struct {
	Logins      atomic.Int64
	Requests    atomic.Int64
	Refreshes   atomic.Int64
	Failures    atomic.Int64
	Connections atomic.Int64

	mu      sync.Mutex
	samples []string
}

func (s *stats) fail(format string, args ...any) {
	s.Failures.Add(1)
	s.mu.Lock()
	if len(s.samples) < 20 {
		s.samples = append(s.samples, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

// trust is the bundle the client verifies servers against, re-read from its file.
type trust struct {
	path, serverName string
	pool             atomic.Pointer[x509.CertPool]
	reloads          atomic.Int64

	pem []byte // what pool was built from; only load touches it
}

// load reads the bundle file and, when it changed, replaces the pool; it reports whether it did.
// A file without a certificate (a write in progress, say) keeps the pool it has.
func (tr *trust) load() (bool, error) {
	b, err := os.ReadFile(tr.path)
	if err != nil {
		return false, err
	}
	if bytes.Equal(b, tr.pem) {
		return false, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return false, fmt.Errorf("%s holds no certificate", tr.path)
	}
	tr.pool.Store(pool)
	tr.pem = b
	return true, nil
}

// follow re-reads the bundle every `every` until ctx ends. The kubelet swaps a mounted
// ConfigMap's files in place (a symlink change), so reading the file again is enough.
func (tr *trust) follow(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := tr.load()
		switch {
		case err != nil:
			log.Printf("client: keeping the bundle in use: %v", err)
		case changed:
			tr.reloads.Add(1)
			log.Printf("client: reloaded the trust bundle %s (%d reloads)", tr.path, tr.reloads.Load())
		}
	}
}

// transport dials TLS itself, so that each new connection gets a configuration built from the
// bundle as it is now: the root pool is never swapped under a handshake, and connections already
// made stay as they were verified.
func (tr *trust) transport(st *stats) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		MaxIdleConns:        100,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			name := tr.serverName
			if name == "" {
				name, _, _ = net.SplitHostPort(addr)
			}
			cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: tr.pool.Load(), ServerName: name}
			conn, err := (&tls.Dialer{NetDialer: dialer, Config: cfg}).DialContext(ctx, network, addr)
			if err == nil {
				st.Connections.Add(1)
			}
			return conn, err
		},
	}
}

func main() {
	base := flag.String("base", "", "API base URL, such as https://sched.ns.svc:8080/api/v1")
	caFile := flag.String("ca", "", "the trust bundle (PEM): the instance's ConfigMap <instance>-ca, key ca.crt, mounted")
	serverName := flag.String("server-name", "", "the name the server's certificate must carry, such as sched.ns.svc (default: the URL's host)")
	reload := flag.Duration("ca-reload", 2*time.Second, "how often the trust bundle is re-read")
	user := flag.String("user", "", "user name")
	password := flag.String("password", "", "password")
	sessions := flag.Int("sessions", 4, "concurrent sessions")
	refresh := flag.Duration("refresh", 30*time.Second, "refresh interval per session")
	listen := flag.String("listen", ":8081", "address of /stats and /stop")
	flag.Parse()
	if *sessions > 0 && (!strings.HasPrefix(*base, "https://") || *user == "" || *password == "") {
		log.Fatal("client: -base (an https:// URL), -user and -password are required with -sessions > 0")
	}
	tr := &trust{path: *caFile, serverName: *serverName}
	if _, err := tr.load(); err != nil {
		log.Fatalf("client: -ca: %v", err)
	}
	st := &stats{}
	ctx, stop := context.WithCancel(context.Background())
	go tr.follow(context.Background(), *reload)
	// One transport for every session, as http.DefaultTransport would be.
	transport := tr.transport(st)
	var wg sync.WaitGroup
	for i := range *sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			session(ctx, st, transport, *base, *user, *password, *refresh, time.Duration(1+7*i)*time.Second)
		}()
	}
	var once sync.Once
	http.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { stop(); wg.Wait() })
		w.WriteHeader(http.StatusNoContent)
	})
	http.HandleFunc("GET /probe", prober(tr.transport(st)))
	http.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		st.mu.Lock()
		samples := append([]string(nil), st.samples...)
		st.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"logins": st.Logins.Load(), "requests": st.Requests.Load(),
			"refreshes": st.Refreshes.Load(), "failures": st.Failures.Load(), "connections": st.Connections.Load(),
			"bundleReloads": tr.reloads.Load(), "samples": samples})
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

// prober answers {"status": N} when the GET to ?url= got an answer, {"error": "..."} when it did
// not (refused, timed out, or a certificate that does not verify: "tls": true), within 3 s.
func prober(transport http.RoundTripper) http.HandlerFunc {
	hc := &http.Client{Timeout: 3 * time.Second, Transport: transport}
	return func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("url")
		if !strings.HasPrefix(target, "https://") {
			http.Error(w, `{"detail":"url must be an https:// URL"}`, http.StatusBadRequest)
			return
		}
		out := map[string]any{}
		resp, err := hc.Get(target)
		if err != nil {
			out["error"] = err.Error()
			var verr *tls.CertificateVerificationError
			out["tls"] = errors.As(err, &verr)
		} else {
			_ = resp.Body.Close()
			out["status"] = resp.StatusCode
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

// session signs in (retrying until the Service answers), then reads /auth/me in a loop and
// refreshes its tokens every `every`, the first time after offset.
func session(ctx context.Context, st *stats, transport http.RoundTripper, base, user, password string, every, offset time.Duration) {
	c := &apiClient{hc: &http.Client{Timeout: 5 * time.Second, Transport: transport}, st: st, base: base, quiet: true}
	var tok map[string]any
	for ctx.Err() == nil {
		var ok bool
		if tok, ok = c.call(ctx, "POST", "/auth/login/json", "", map[string]any{"username": user, "password": password}); ok {
			break
		}
		time.Sleep(time.Second)
	}
	c.quiet = false
	if ctx.Err() != nil {
		return
	}
	st.Logins.Add(1)
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	next := time.Now().Add(offset)
	for ctx.Err() == nil {
		if me, ok := c.call(ctx, "GET", "/auth/me", access, nil); ok {
			if me["username"] != user {
				st.fail("/auth/me answered for %v", me["username"])
			}
			st.Requests.Add(1)
		}
		if time.Now().After(next) {
			if t, ok := c.call(ctx, "POST", "/auth/refresh", "", map[string]any{"refresh_token": refresh}); ok {
				access, refresh = t["access_token"].(string), t["refresh_token"].(string)
				st.Refreshes.Add(1)
			}
			next = time.Now().Add(every)
		}
	}
}

// apiClient makes one session's calls and counts what went wrong.
type apiClient struct {
	hc   *http.Client
	st   *stats
	base string
	// quiet: sign-in attempts before the first success (Service or DNS not there yet) are not
	// failures.
	quiet bool
}

// call sends body (JSON, when not nil) with the bearer token (when not empty) and returns the
// decoded 2xx answer; anything else is counted as a failure unless quiet or ending.
func (c *apiClient) call(ctx context.Context, method, path, token string, body any) (map[string]any, bool) {
	var payload string
	if body != nil {
		b, _ := json.Marshal(body)
		payload = string(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, c.base+path, strings.NewReader(payload))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil && !c.quiet {
			c.st.fail("%s %s: %v", method, path, err)
		}
		return nil, false
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode/100 != 2 {
		if ctx.Err() == nil && !c.quiet {
			c.st.fail("%s %s: %d %v", method, path, resp.StatusCode, out["detail"])
		}
		return nil, false
	}
	return out, true
}
