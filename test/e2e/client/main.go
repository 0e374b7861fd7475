// Command client is the end-to-end tests' client pod: N sessions sign in to the scheduling API,
// then read /auth/me in a loop and refresh their tokens periodically, counting every answer.
// GET /stats (on -listen) reports the counts as JSON; POST /stop ends the load first;
// GET /probe?url=U makes one GET to U from this pod and reports the status or the error (the
// NetworkPolicy scenario asks pods with and without the allowed labels). With -sessions 0 it
// only serves /probe. It runs as
// an image of its own (hack/images -e2e-client) under the restricted Pod Security profile.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type stats struct {
	Logins    atomic.Int64
	Requests  atomic.Int64
	Refreshes atomic.Int64
	Failures  atomic.Int64

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

func main() {
	base := flag.String("base", "", "API base URL, such as http://sched.ns.svc:8080/api/v1")
	user := flag.String("user", "", "user name")
	password := flag.String("password", "", "password")
	sessions := flag.Int("sessions", 4, "concurrent sessions")
	refresh := flag.Duration("refresh", 30*time.Second, "refresh interval per session")
	listen := flag.String("listen", ":8081", "address of /stats and /stop")
	flag.Parse()
	if *sessions > 0 && (*base == "" || *user == "" || *password == "") {
		log.Fatal("client: -base, -user and -password are required with -sessions > 0")
	}
	st := &stats{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range *sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			session(ctx, st, *base, *user, *password, *refresh, time.Duration(1+7*i)*time.Second)
		}()
	}
	var once sync.Once
	http.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { stop(); wg.Wait() })
		w.WriteHeader(http.StatusNoContent)
	})
	http.HandleFunc("GET /probe", probe)
	http.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		st.mu.Lock()
		samples := append([]string(nil), st.samples...)
		st.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"logins": st.Logins.Load(), "requests": st.Requests.Load(),
			"refreshes": st.Refreshes.Load(), "failures": st.Failures.Load(), "samples": samples})
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}

// probe answers {"status": N} when the GET to ?url= got an answer, {"error": "..."} when it did
// not (refused, timed out), within 3 s.
func probe(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("url")
	if !strings.HasPrefix(target, "http://") {
		http.Error(w, `{"detail":"url must be an http:// URL"}`, http.StatusBadRequest)
		return
	}
	out := map[string]any{}
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(target)
	if err != nil {
		out["error"] = err.Error()
	} else {
		_ = resp.Body.Close()
		out["status"] = resp.StatusCode
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// session signs in (retrying until the Service answers), then reads /auth/me in a loop and
// refreshes its tokens every `every`, the first time after offset.
func session(ctx context.Context, st *stats, base, user, password string, every, offset time.Duration) {
	c := &apiClient{hc: &http.Client{Timeout: 5 * time.Second}, st: st, base: base, quiet: true}
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
