package controllers

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyprobe"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/server/auth"
	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/testenv"
)

// The zero-downtime proof of the KeyRotationPolicy: the real operator rotates the keys of the
// real scheduling server (cmd/scheduler on a real PostgreSQL) while users keep calling it. The
// server reads its keyring from a directory that this test keeps in step with the keyring Secret
// the way kubelet updates a Secret volume (a new timestamped directory, then an atomic swap of the
// "..data" symlink), so the server's watcher hot-reloads every version the operator writes. The
// operator sees what the server has loaded through the server's metrics (MetricsObserver), and
// only through them: the propagation fallback is the production two minutes, longer than any
// wait here, so every activation below happened because the server reported the staged version.
const (
	zdUsers          = 4
	zdReadersPerUser = 2
	zdReadPause      = 4 * time.Millisecond // between one reader's requests: a steady stream, not a flood
	zdRefreshEvery   = 500 * time.Millisecond
	zdRotations      = 3
	zdGrace          = time.Minute // the CRD's minimum; the access token TTL below is longer
	zdAccessTTL      = 10 * time.Minute
	zdPassword       = "Correct-Horse-Battery-9"
)

func TestZeroDowntimeRotationUnderLoad(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	bin, pg := serverAndPostgres(t)

	ns := namespace(t, nil)
	metricsAddr := testenv.FreeAddr(t)
	metricsURL := "http://" + metricsAddr + "/metrics"
	op := startOperatorWith(t, func(kr *KeyRotationPolicyReconciler) {
		// The server runs on this machine over plain HTTP: its keys are what this test is about
		// (TestCertificateRotationsUnderLoadWithTheRealServer covers its certificates).
		kr.Observer = &MetricsObserver{HTTP: &http.Client{Timeout: 2 * time.Second}, Targets: func(context.Context, *rschedv1.SchedulerInstance) (map[string]string, error) {
			return map[string]string{"local": metricsURL}, nil
		}}
		// Far longer than the server takes to report a reload (~0.1 s), so every activation
		// comes from the server's own report; short enough that the grace period (which also
		// covers it) ends within the test.
		kr.Propagation = 15 * time.Second
	})
	t.Cleanup(func() {
		if lines := zdGrep(op.logs.String(), `zd-keys`); t.Failed() && lines != "" {
			t.Logf("operator log of the policy (tail):\n%s", zdTail(lines, 40))
		}
	})

	userSecret(t, ns, "zd-db-source", map[string]string{"url": pg.URL})
	si := instance(ns, "zd", func(si *rschedv1.SchedulerInstance) {
		si.Spec.Image = testImage
		// The test database is plain PostgreSQL (its TLS is tested in internal/server/store).
		si.Spec.Database.TLS = rschedv1.DatabaseTLSSpec{Mode: "disable", InsecureAllowUnverified: true}
	})
	create(t, si)

	// The files the pod would mount, from the Secrets the operator produced.
	vol := &zdVolume{dir: t.TempDir()}
	dbSecret := &corev1.Secret{}
	testenv.Eventually(t, 30*time.Second, "the instance's database Secret", func() (bool, string) {
		err := get(t, ns, builders.DatabaseSecretName(si), dbSecret)
		return err == nil && len(dbSecret.Data[builders.DatabaseURLKey]) > 0, fmt.Sprint(err)
	})
	dbFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(dbFile, dbSecret.Data[builders.DatabaseURLKey], 0o600); err != nil {
		t.Fatal(err)
	}
	wc, err := client.NewWithWatch(kube.Config, client.Options{Scheme: kube.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	secrets := &zdSecretSync{c: wc, key: types.NamespacedName{Namespace: ns, Name: builders.KeyringSecretName(si)}, vol: vol}
	syncDone := make(chan struct{})
	go func() { defer close(syncDone); secrets.run(ctx) }()
	t.Cleanup(func() { cancel(); <-syncDone })
	testenv.Eventually(t, 30*time.Second, "the keyring Secret synced into the volume", func() (bool, string) {
		return vol.version() == 1, fmt.Sprintf("volume holds version %d", vol.version())
	})

	srv := zdStartScheduler(t, bin, vol, dbFile, metricsAddr)
	api := srv.api

	krp := &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "zd-keys", Namespace: ns}, Spec: rschedv1.KeyRotationPolicySpec{
		TargetRef: rschedv1.LocalObjectReference{Name: si.Name},
		Keys: []rschedv1.RotatedKey{
			{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS512},
			{Name: "fields", Purpose: rschedv1.KeyPurposeEncryption, Algorithm: rschedv1.AlgorithmAES256GCM},
		},
		Schedule:    rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: 720 * time.Hour}},
		GracePeriod: &metav1.Duration{Duration: zdGrace},
		Retain:      1,
		Rollout:     rschedv1.RolloutHotReload,
	}}
	create(t, krp)
	zdWaitPolicy(t, krp, 30*time.Second, "the policy Ready at version 1", func(p *rschedv1.KeyRotationPolicy) bool {
		c := meta.FindStatusCondition(p.Status.Conditions, rschedv1.ConditionReady)
		return p.Status.CurrentVersion == 1 && c != nil && c.Status == metav1.ConditionTrue && zdKey(p, "jwt").ActiveVersion == 1
	})

	// Users, before any rotation: the first registration is the administrator, who registers the
	// others. The administrator's first access token is kept aside, unused until the grace check.
	code, r := api.must(t, "POST", "/api/v1/auth/register", map[string]any{"username": "zd-admin", "email": "zd-admin@example.org", "password": zdPassword}, "")
	zdWant(t, "register the administrator", code, r, 201)
	admin := api.login(t, "zd-admin")
	oldToken, oldIssued := admin.access(), time.Now()
	if kid := zdKID(t, oldToken); kid != "jwt-1" {
		t.Fatalf("the first access token is signed with %s, want jwt-1", kid)
	}
	probe := api.login(t, "zd-admin") // its refreshes show which key the server signs with
	users := make([]*zdSession, zdUsers)
	for i := range users {
		name := fmt.Sprintf("zd-user-%d", i)
		code, r := api.must(t, "POST", "/api/v1/auth/register", map[string]any{"username": name, "email": name + "@example.org", "password": zdPassword, "role": "coordinator"}, admin.access())
		zdWant(t, "register "+name, code, r, 201)
		users[i] = api.login(t, name)
	}
	mfa := api.enrolMFA(t, admin.access(), "zd-mfa")
	if kid := srv.sealedUnder(t, pg.URL, mfa.id); kid != "fields-1" {
		t.Fatalf("the TOTP secret was sealed under %s before any rotation, want fields-1", kid)
	}

	// The steady stream: readers per user on GET /auth/me, one refresher per user.
	load := &zdLoad{kids: map[string]int{}}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var workers sync.WaitGroup
	stopWorkers := func() { stopLoad(); workers.Wait() }
	t.Cleanup(stopWorkers)
	mon := &zdMonitor{url: metricsURL}
	workers.Add(1)
	go func() { defer workers.Done(); mon.run(loadCtx) }()
	loadStart := time.Now()
	for _, u := range users {
		for range zdReadersPerUser {
			workers.Add(1)
			go func() { defer workers.Done(); load.read(loadCtx, api, u) }()
		}
		workers.Add(1)
		go func() { defer workers.Done(); load.refresh(loadCtx, api, u) }()
	}
	testenv.Eventually(t, 10*time.Second, "the load under way", func() (bool, string) {
		return load.gets.Load() > 100 && load.refreshes.Load() > zdUsers, fmt.Sprintf("%d requests, %d refreshes", load.gets.Load(), load.refreshes.Load())
	})

	// Three manual rotations, one after another.
	var jwt1ExpiresAt, firstAsked time.Time
	mfaStep := mfa.confirmedStep
	for i := 1; i <= zdRotations; i++ {
		cur := zdPolicy(t, krp)
		prevVersion, prevJWT := cur.Status.CurrentVersion, zdKey(cur, "jwt").ActiveVersion
		request := fmt.Sprintf("zero-downtime-%d", i)
		patch := client.MergeFrom(cur.DeepCopy())
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[rschedv1.RotateAnnotation] = request
		if err := kube.Client.Patch(ctx, cur, patch); err != nil {
			t.Fatal(err)
		}
		asked := time.Now()
		var jwtActive, fieldsActive int64
		zdWaitPolicy(t, krp, 20*time.Second, fmt.Sprintf("rotation %d active", i), func(p *rschedv1.KeyRotationPolicy) bool {
			jwt, fld := zdKey(p, "jwt"), zdKey(p, "fields")
			jwtActive, fieldsActive = jwt.ActiveVersion, fld.ActiveVersion
			return p.Status.CurrentVersion > prevVersion && p.Status.LastRotateRequest == request &&
				jwt.ActiveVersion > prevJWT && fld.ActiveVersion == jwt.ActiveVersion && !zdHasStaged(jwt) && !zdHasStaged(fld)
		})
		statusAt := time.Since(asked)
		// The server signs new tokens with the new key.
		want := fmt.Sprintf("jwt-%d", jwtActive)
		testenv.Eventually(t, 10*time.Second, "the server signing with "+want, func() (bool, string) {
			kid := zdKID(t, probe.refresh(t, api))
			v, rejected, err := zdScrape(ctx, metricsURL)
			return kid == want, fmt.Sprintf("fresh tokens signed with %s; the server runs keyring version %v, rejected %v reloads (%v); policy: %s",
				kid, v, rejected, err, zdStatusSummary(zdPolicy(t, krp)))
		})
		signedAt := time.Since(asked)
		if i == 1 {
			firstAsked = asked
			p := zdPolicy(t, krp)
			v, ok := zdVersion(zdKey(p, "jwt"), 1)
			if !ok || v.State != rschedv1.KeyStateVerifyOnly || v.ExpiresAt == nil {
				t.Fatalf("after the first rotation jwt version 1 is %+v, want verify-only with expiresAt", v)
			}
			jwt1ExpiresAt = v.ExpiresAt.Time
			// An MFA sign-in while the first activation is being re-encrypted: the secret opens
			// whether the rewrap has moved it yet or not.
			kid := srv.sealedUnder(t, pg.URL, mfa.id)
			mfaStep = api.mfaLogin(t, mfa, mfaStep)
			t.Logf("rotation 1: MFA sign-in with the TOTP secret sealed under %s at that moment", kid)
		}
		// Every user's readers move on to a token of the new key before the next rotation, so
		// tokens of every key are in use while the keys change.
		testenv.Eventually(t, 5*time.Second, "every user refreshed onto "+want, func() (bool, string) {
			for _, u := range users {
				if kid := zdKID(t, u.access()); kid != want {
					return false, u.name + " still uses a token of " + kid
				}
			}
			return true, ""
		})
		if code, r := api.must(t, "GET", "/api/v1/auth/me", nil, probe.access()); code != 200 {
			t.Fatalf("a token signed with %s: GET /auth/me %d %s", want, code, zdDetail(r))
		}
		if code, r := api.must(t, "GET", "/api/v1/auth/me", nil, oldToken); code != 200 {
			t.Fatalf("after rotation %d the token issued before the first rotation is refused (%d %s) within the grace period", i, code, zdDetail(r))
		}
		t.Logf("rotation %d: keyring version %d, active %s and fields-%d; status %s and server signing %s after the request",
			i, zdPolicy(t, krp).Status.CurrentVersion, want, fieldsActive, statusAt.Round(time.Millisecond), signedAt.Round(time.Millisecond))
	}
	rotated := time.Now()
	final := zdPolicy(t, krp)
	activeFields := fmt.Sprintf("fields-%d", zdKey(final, "fields").ActiveVersion)

	// Within the grace period the old token still works.
	if !time.Now().Before(jwt1ExpiresAt) {
		t.Fatalf("the rotations took until after jwt-1's grace period (%s): nothing left to show", jwt1ExpiresAt)
	}
	if code, r := api.must(t, "GET", "/api/v1/auth/me", nil, oldToken); code != 200 {
		t.Fatalf("the token issued before the rotations is refused (%d %s) %s before its key's grace period ends",
			code, zdDetail(r), time.Until(jwt1ExpiresAt).Round(time.Millisecond))
	}

	// The data sealed under fields-1 was opened and re-sealed under the active key, and the MFA
	// user still signs in.
	testenv.Eventually(t, 15*time.Second, "the TOTP secret re-sealed under "+activeFields, func() (bool, string) {
		kid := srv.sealedUnder(t, pg.URL, mfa.id)
		return kid == activeFields, "sealed under " + kid
	})
	api.mfaLogin(t, mfa, mfaStep)

	// The old token fails once its key's grace period has ended, and not before.
	var refusedAt time.Time
	testenv.Eventually(t, time.Until(jwt1ExpiresAt)+15*time.Second, "the pre-rotation token refused after jwt-1's grace period", func() (bool, string) {
		code, r := api.must(t, "GET", "/api/v1/auth/me", nil, oldToken)
		switch code {
		case 200:
			return false, "still accepted"
		case 401:
			refusedAt = time.Now()
			return true, ""
		}
		t.Fatalf("the pre-rotation token: GET /auth/me %d %s", code, zdDetail(r))
		return false, ""
	})
	if refusedAt.Before(jwt1ExpiresAt) {
		t.Fatalf("the pre-rotation token was refused at %s, before jwt-1's grace period ended at %s", refusedAt, jwt1ExpiresAt)
	}

	// The operator retires the drained encryption key (and the lapsed signing key).
	zdWaitPolicy(t, krp, 75*time.Second, "fields version 1 and jwt version 1 retired", func(p *rschedv1.KeyRotationPolicy) bool {
		f1, ok1 := zdVersion(zdKey(p, "fields"), 1)
		j1, ok2 := zdVersion(zdKey(p, "jwt"), 1)
		return ok1 && ok2 && f1.State == rschedv1.KeyStateRetired && j1.State == rschedv1.KeyStateRetired
	})
	retiredAt := time.Now()
	stopWorkers()
	duration := time.Since(loadStart)

	// What the server says now: the last keyring, no rejected reload, a clean rewrap.
	final = zdPolicy(t, krp)
	v, reloadErrors, err := zdScrape(ctx, metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := keyprobe.Scrape(ctx, nil, metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	versions, regressions, scrapeErrors := mon.result()

	t.Logf("zero-downtime rotation under load: %d rotations, %d GET /auth/me + %d refreshes + %d MFA sign-ins by %d users over %s (%.0f req/s), failures %d",
		zdRotations, load.gets.Load(), load.refreshes.Load(), 2, zdUsers, duration.Round(100*time.Millisecond),
		float64(load.gets.Load()+load.refreshes.Load())/duration.Seconds(), load.failures.Load())
	t.Logf("refreshed tokens by signing key: %s; keyring versions written to the volume %v, loaded by the server %v; reload errors %v",
		load.kidSummary(), secrets.written(), versions, reloadErrors)
	t.Logf("pre-rotation token: accepted until %s after the last rotation, refused %s after jwt-1's expiresAt (issued %s before the first rotation); keys retired %s after the last rotation; whole test %s",
		jwt1ExpiresAt.Sub(rotated).Round(time.Millisecond), refusedAt.Sub(jwt1ExpiresAt).Round(time.Millisecond),
		firstAsked.Sub(oldIssued).Round(time.Millisecond), retiredAt.Sub(rotated).Round(time.Second), time.Since(began).Round(time.Second))

	if n := load.failures.Load(); n != 0 || load.gets.Load() == 0 || load.refreshes.Load() == 0 {
		t.Errorf("%d failed requests (of %d requests and %d refreshes); first failures:\n%s", n, load.gets.Load(), load.refreshes.Load(), strings.Join(load.samples(), "\n"))
	}
	if len(regressions) > 0 {
		t.Errorf("the server's keyring version went back: %v", regressions)
	}
	if scrapeErrors > 0 {
		t.Errorf("the server's metrics did not answer %d times", scrapeErrors)
	}
	if errs := secrets.problems(); len(errs) > 0 {
		t.Errorf("the keyring Secret: %v", errs)
	}
	if reloadErrors != 0 {
		t.Errorf("rsched_keyring_reload_errors_total is %v: the server rejected a keyring the operator wrote (server log: %s)", reloadErrors, srv.keyringLog())
	}
	// The file's version counts every change; the policy counts rotations (the key ids' number).
	if int64(v) != vol.version() || vol.keyVersion() != final.Status.CurrentVersion {
		t.Errorf("the server runs keyring version %v and the volume holds %d (key version %d); the policy's status says key version %d", v, vol.version(), vol.keyVersion(), final.Status.CurrentVersion)
	}
	if rw := rep.Rewrap; rw == nil || rw.ActiveKID != activeFields || rw.Pending != 0 || rw.Failed != 0 {
		t.Errorf("the server's last rewrap pass: %+v, want a clean pass under %s", rw, activeFields)
	}
	if kid := srv.sealedUnder(t, pg.URL, mfa.id); kid != activeFields {
		t.Errorf("the TOTP secret is sealed under %s, want %s", kid, activeFields)
	}
}

// zdLoad counts the stream and every failure of it; workers never call t.
type zdLoad struct {
	gets, refreshes, failures atomic.Int64
	mu                        sync.Mutex
	failed                    []string
	kids                      map[string]int
}

func (l *zdLoad) fail(format string, args ...any) {
	l.failures.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failed) < 10 {
		l.failed = append(l.failed, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
}

func (l *zdLoad) samples() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.failed)
}

func (l *zdLoad) kidSummary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.kids))
	for k := range l.kids {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %d", k, l.kids[k]))
	}
	return strings.Join(parts, ", ")
}

// read sends GET /auth/me with the user's current access token until ctx ends.
func (l *zdLoad) read(ctx context.Context, api *zdAPI, u *zdSession) {
	for ctx.Err() == nil {
		code, r, err := api.call(ctx, "GET", "/api/v1/auth/me", nil, u.access())
		switch {
		case ctx.Err() != nil:
			return // a request cut by the end of the test is not the server's failure
		case err != nil:
			l.fail("GET /auth/me as %s: %v", u.name, err)
		case code != 200:
			l.fail("GET /auth/me as %s: %d %s", u.name, code, zdDetail(r))
		case r["username"] != u.name:
			l.fail("GET /auth/me as %s answered for another user", u.name)
		}
		l.gets.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(zdReadPause):
		}
	}
}

// refresh exchanges the user's refresh token every zdRefreshEvery; the readers pick up the new
// access token at once.
func (l *zdLoad) refresh(ctx context.Context, api *zdAPI, u *zdSession) {
	tick := time.NewTicker(zdRefreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		code, r, err := api.call(ctx, "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": u.refreshToken}, "")
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.fail("refresh as %s: %v", u.name, err)
		case code != 200:
			l.fail("refresh as %s: %d %s", u.name, code, zdDetail(r))
		default:
			access, _ := r["access_token"].(string)
			refresh, _ := r["refresh_token"].(string)
			kid, err := zdHeaderKID(access)
			if err != nil || refresh == "" {
				l.fail("refresh as %s: no usable tokens in the answer", u.name)
				break
			}
			u.refreshToken = refresh
			u.accessToken.Store(&access)
			l.mu.Lock()
			l.kids[kid]++
			l.mu.Unlock()
		}
		l.refreshes.Add(1)
	}
}

// zdSession is one sign-in.
type zdSession struct {
	name         string
	accessToken  atomic.Pointer[string]
	refreshToken string // used by one goroutine at a time
}

func (s *zdSession) access() string { return *s.accessToken.Load() }

// refresh exchanges the refresh token and returns the new access token.
func (s *zdSession) refresh(t *testing.T, api *zdAPI) string {
	t.Helper()
	code, r := api.must(t, "POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": s.refreshToken}, "")
	zdWant(t, "refresh", code, r, 200)
	access, _ := r["access_token"].(string)
	s.refreshToken, _ = r["refresh_token"].(string)
	s.accessToken.Store(&access)
	return access
}

// zdMFAUser is a user with a confirmed TOTP secret.
type zdMFAUser struct {
	name, id      string
	secret        []byte
	confirmedStep int64
}

// zdAPI calls the server's API. Errors and failure messages carry the status and the server's
// detail only, never a token.
type zdAPI struct {
	base string
	hc   *http.Client
}

func (a *zdAPI) call(ctx context.Context, method, path string, body any, bearer string) (int, map[string]any, error) {
	var rd bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&rd).Encode(body); err != nil {
			return 0, nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, &rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, errors.Unwrap(err))
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil && !errors.Is(err, io.EOF) {
		return res.StatusCode, nil, fmt.Errorf("%s %s: undecodable answer (status %d)", method, path, res.StatusCode)
	}
	return res.StatusCode, out, nil
}

// must is call for the test goroutine: a transport error fails the test.
func (a *zdAPI) must(t *testing.T, method, path string, body any, bearer string) (int, map[string]any) {
	t.Helper()
	code, r, err := a.call(context.Background(), method, path, body, bearer)
	if err != nil {
		t.Fatal(err)
	}
	return code, r
}

func (a *zdAPI) login(t *testing.T, name string) *zdSession {
	t.Helper()
	code, r := a.must(t, "POST", "/api/v1/auth/login/json", map[string]any{"username": name, "password": zdPassword}, "")
	zdWant(t, "log in "+name, code, r, 200)
	s := &zdSession{name: name}
	access, _ := r["access_token"].(string)
	s.refreshToken, _ = r["refresh_token"].(string)
	s.accessToken.Store(&access)
	if access == "" || s.refreshToken == "" {
		t.Fatalf("log in %s: no tokens in the answer", name)
	}
	return s
}

// enrolMFA registers name, signs in and confirms a TOTP secret, which the server seals with the
// active encryption key.
func (a *zdAPI) enrolMFA(t *testing.T, adminToken, name string) *zdMFAUser {
	t.Helper()
	code, r := a.must(t, "POST", "/api/v1/auth/register", map[string]any{"username": name, "email": name + "@example.org", "password": zdPassword, "role": "coordinator"}, adminToken)
	zdWant(t, "register "+name, code, r, 201)
	u := &zdMFAUser{name: name}
	u.id, _ = r["id"].(string)
	s := a.login(t, name)
	code, r = a.must(t, "POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": zdPassword}, s.access())
	zdWant(t, "enrol "+name, code, r, 200)
	secret, _ := r["secret"].(string)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal("the enrolment's secret is not base32")
	}
	u.secret = raw
	now := time.Now()
	totp, err := auth.TOTPCode(raw, now)
	if err != nil {
		t.Fatal(err)
	}
	code, r = a.must(t, "POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totp}, s.access())
	zdWant(t, "confirm "+name, code, r, 200)
	u.confirmedStep = now.Unix() / 30
	return u
}

// mfaLogin signs u in with password and TOTP code, using a time step after last (a code is never
// accepted twice, nor one of an earlier step); it returns the step used.
func (a *zdAPI) mfaLogin(t *testing.T, u *zdMFAUser, last int64) int64 {
	t.Helper()
	code, r := a.must(t, "POST", "/api/v1/auth/login/json", map[string]any{"username": u.name, "password": zdPassword}, "")
	zdWant(t, "MFA user's password step", code, r, 200)
	challenge, _ := r["mfa_token"].(string)
	if r["mfa_required"] != true || challenge == "" {
		t.Fatal("the MFA user's password step did not answer with a challenge")
	}
	step := last + 1
	for step > time.Now().Unix()/30+1 { // the server accepts one step ahead
		time.Sleep(time.Until(time.Unix((step-1)*30, 0)) + 10*time.Millisecond)
	}
	step = max(step, time.Now().Unix()/30)
	totp, err := auth.TOTPCode(u.secret, time.Unix(step*30, 0))
	if err != nil {
		t.Fatal(err)
	}
	code, r = a.must(t, "POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": challenge, "code": totp}, "")
	zdWant(t, "MFA verify", code, r, 200)
	access, _ := r["access_token"].(string)
	if code, r := a.must(t, "GET", "/api/v1/auth/me", nil, access); code != 200 || r["username"] != u.name {
		t.Fatalf("the MFA user's new token: GET /auth/me %d %s", code, zdDetail(r))
	}
	return step
}

func zdWant(t *testing.T, what string, code int, r map[string]any, want int) {
	t.Helper()
	if code != want {
		t.Fatalf("%s: %d %s, want %d", what, code, zdDetail(r), want)
	}
}

// zdDetail is the error detail of an answer; success bodies (which hold tokens) are never shown.
func zdDetail(r map[string]any) string {
	if d, ok := r["detail"].(string); ok {
		return fmt.Sprintf("%q", d)
	}
	return "(no detail)"
}

// zdHeaderKID reads the kid from a JWT's header, without verifying anything.
func zdHeaderKID(token string) (string, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", errors.New("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", errors.New("the JWT header is not base64url")
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.KID == "" {
		return "", errors.New("the JWT header has no kid")
	}
	return h.KID, nil
}

func zdKID(t *testing.T, token string) string {
	t.Helper()
	kid, err := zdHeaderKID(token)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// zdScheduler is the real server process.
type zdScheduler struct {
	api *zdAPI
	out *testenv.OutputBuffer
}

func zdStartScheduler(t *testing.T, bin string, vol *zdVolume, dbFile, metricsAddr string) *zdScheduler {
	t.Helper()
	apiAddr := testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`listen_addr: %q
metrics_addr: %q
issuer: https://schedule.test
auth:
  access_token_ttl: %s
  mfa_required_roles: []
rate_limit:
  api: {requests: 1000000, period: 1m}
  login: {requests: 1000, period: 1m}
  register: {requests: 1000, period: 1m}
  refresh: {requests: 1000000, period: 1m}
  mfa: {requests: 1000, period: 1m}
security:
  hsts: false
# The test database is plain PostgreSQL (its TLS is tested in internal/server/store).
database:
  tls: {mode: disable, insecure_allow_unverified: true}
secrets:
  database_url_file: %q
  keyring_file: %q
`, apiAddr, metricsAddr, zdAccessTTL, dbFile, filepath.Join(vol.dir, builders.KeyringKey))
	configPath := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(configPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &zdScheduler{api: &zdAPI{base: "http://" + apiAddr, hc: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}}}, out: &testenv.OutputBuffer{}}
	done := runServer(t, bin, configPath, s.out, func() {
		t.Logf("scheduler log without audit entries (tail):\n%s", zdTail(zdGrep(s.out.String(), `"level":`), 40))
	})
	testenv.Eventually(t, 30*time.Second, "the scheduler ready", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("the scheduler exited:\n%s", zdTail(s.out.String(), 40))
		default:
		}
		code, _, err := s.api.call(context.Background(), "GET", "/api/v1/health/ready", nil, "")
		return err == nil && code == 200, fmt.Sprint(code, err)
	})
	return s
}

// sealedUnder is the kid of the key that seals the user's TOTP secret in the database.
func (s *zdScheduler) sealedUnder(t *testing.T, dbURL, userID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal("connecting to the database failed")
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT totp_secret FROM users WHERE id = $1", userID).Scan(&v); err != nil {
		t.Fatalf("reading the TOTP secret: %v", err)
	}
	kid, err := fieldcrypt.KeyID(v)
	if err != nil {
		t.Fatalf("the stored TOTP secret: %v", err)
	}
	return kid
}

// keyringLog is the server's log lines about its keyring (kids and versions, never material).
func (s *zdScheduler) keyringLog() string { return zdGrep(s.out.String(), "keyring:") }

// zdGrep keeps the lines of s that contain sub.
func zdGrep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// zdVolume is a Secret volume as kubelet maintains it: the files live in a timestamped directory,
// "..data" links to it, and each key is a symlink through "..data". An update writes a new
// directory and renames a new "..data" link over the old one, so a reader sees the old file or
// the new one, never a mix.
type zdVolume struct {
	dir     string
	mu      sync.Mutex
	current []byte
	ver     int64
}

// write replaces the volume's file; it reports whether the content changed.
func (v *zdVolume) write(data []byte, version int64) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if bytes.Equal(data, v.current) {
		return false, nil
	}
	ts, err := os.MkdirTemp(v.dir, fmt.Sprintf("..%s.", time.Now().UTC().Format("2006_01_02_15_04_05")))
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(ts, builders.KeyringKey), data, 0o600); err != nil {
		return false, err
	}
	old, _ := os.Readlink(filepath.Join(v.dir, "..data"))
	tmp := filepath.Join(v.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(v.dir, "..data")); err != nil {
		return false, err
	}
	link := filepath.Join(v.dir, builders.KeyringKey)
	if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
		if err := os.Symlink(filepath.Join("..data", builders.KeyringKey), link); err != nil {
			return false, err
		}
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(v.dir, old))
	}
	v.current, v.ver = slices.Clone(data), version
	return true, nil
}

// keyVersion is the key version (the number in the newest key ids) of the file in the volume.
func (v *zdVolume) keyVersion() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, err := keyring.Decode(v.current)
	if err != nil {
		return -1
	}
	return keyrotation.KeyVersion(f)
}

func (v *zdVolume) version() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ver
}

// zdSecretSync follows the keyring Secret with a watch and writes every change into the volume.
type zdSecretSync struct {
	c   client.WithWatch
	key types.NamespacedName
	vol *zdVolume

	mu       sync.Mutex
	versions []int64
	errs     []string
}

func (s *zdSecretSync) run(ctx context.Context) {
	for ctx.Err() == nil {
		sec := &corev1.Secret{}
		if err := s.c.Get(ctx, s.key, sec); err != nil {
			if ctx.Err() == nil && !strings.Contains(err.Error(), "not found") {
				s.problem("reading the Secret: %v", err)
			}
			select { // the Secret does not exist yet: a watch cannot start from nothing
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.apply(sec)
		w, err := s.c.Watch(ctx, &corev1.SecretList{}, &client.ListOptions{Namespace: s.key.Namespace,
			FieldSelector: fields.OneTermEqualSelector("metadata.name", s.key.Name),
			Raw:           &metav1.ListOptions{ResourceVersion: sec.ResourceVersion}})
		if err != nil {
			if ctx.Err() == nil {
				s.problem("watching the Secret: %v", err)
			}
			continue
		}
		s.follow(w)
		w.Stop()
	}
}

// follow applies the watch's events until it ends (the API server closes watches now and then).
func (s *zdSecretSync) follow(w watch.Interface) {
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified:
			if sec, ok := ev.Object.(*corev1.Secret); ok {
				s.apply(sec)
			}
		case watch.Error:
			return // e.g. the resource version expired: read again and watch again
		}
	}
}

func (s *zdSecretSync) apply(sec *corev1.Secret) {
	data := sec.Data[builders.KeyringKey]
	f, err := keyring.Decode(data)
	if err != nil {
		s.problem("the Secret does not hold a valid keyring") // never the content
		return
	}
	s.mu.Lock()
	if n := len(s.versions); n > 0 && f.Version < s.versions[n-1] {
		s.errs = append(s.errs, fmt.Sprintf("version %d after %d", f.Version, s.versions[n-1]))
	}
	s.mu.Unlock()
	// Like kubelet, write what the Secret holds, whatever it is: the server must judge it.
	changed, err := s.vol.write(data, f.Version)
	if err != nil {
		s.problem("writing the volume: %v", err)
		return
	}
	if changed {
		s.mu.Lock()
		s.versions = append(s.versions, f.Version)
		s.mu.Unlock()
	}
}

func (s *zdSecretSync) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 10 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
}

func (s *zdSecretSync) problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.errs)
}

// written lists the version of every write into the volume (a repeated version is a write
// that changed the keyring without raising its version).
func (s *zdSecretSync) written() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.versions)
}

// zdMonitor scrapes the server's keyring version throughout.
type zdMonitor struct {
	url string

	mu           sync.Mutex
	seen         []int64
	regressions  []string
	scrapeErrors int
}

func (m *zdMonitor) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		v, _, err := zdScrape(ctx, m.url)
		m.mu.Lock()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			m.scrapeErrors++
		case len(m.seen) == 0 || int64(v) > m.seen[len(m.seen)-1]:
			m.seen = append(m.seen, int64(v))
		case int64(v) < m.seen[len(m.seen)-1]:
			m.regressions = append(m.regressions, fmt.Sprintf("%d after %d", int64(v), m.seen[len(m.seen)-1]))
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (m *zdMonitor) result() ([]int64, []string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.seen), slices.Clone(m.regressions), m.scrapeErrors
}

// zdScrape reads rsched_keyring_version and rsched_keyring_reload_errors_total from the server's
// metrics page.
func zdScrape(ctx context.Context, url string) (version, reloadErrors float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept", "text/plain;version="+expfmt.TextVersion)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return 0, 0, fmt.Errorf("metrics: status %d", res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return 0, 0, errors.New("metrics: not a Prometheus text page")
	}
	v, e := fams["rsched_keyring_version"], fams["rsched_keyring_reload_errors_total"]
	if v == nil || e == nil || len(v.GetMetric()) != 1 || len(e.GetMetric()) != 1 {
		return 0, 0, errors.New("metrics: no keyring version or reload error counter")
	}
	return v.GetMetric()[0].GetGauge().GetValue(), e.GetMetric()[0].GetCounter().GetValue(), nil
}

func zdPolicy(t *testing.T, krp *rschedv1.KeyRotationPolicy) *rschedv1.KeyRotationPolicy {
	t.Helper()
	p := &rschedv1.KeyRotationPolicy{}
	if err := get(t, krp.Namespace, krp.Name, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func zdWaitPolicy(t *testing.T, krp *rschedv1.KeyRotationPolicy, within time.Duration, what string, cond func(*rschedv1.KeyRotationPolicy) bool) {
	t.Helper()
	testenv.Eventually(t, within, what, func() (bool, string) {
		p := zdPolicy(t, krp)
		return cond(p), zdStatusSummary(p)
	})
}

// zdStatusSummary is the policy's status in one line: versions, states, conditions.
func zdStatusSummary(p *rschedv1.KeyRotationPolicy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version %d, request %q;", p.Status.CurrentVersion, p.Status.LastRotateRequest)
	for _, k := range p.Status.Keys {
		fmt.Fprintf(&b, " %s:", k.Name)
		for _, v := range k.Versions {
			fmt.Fprintf(&b, " %d=%s", v.Version, v.State)
		}
		b.WriteString(";")
	}
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s/%s", c.Type, c.Status, c.Reason)
	}
	return b.String()
}

func zdKey(p *rschedv1.KeyRotationPolicy, name string) rschedv1.KeyStatus {
	for _, k := range p.Status.Keys {
		if k.Name == name {
			return k
		}
	}
	return rschedv1.KeyStatus{Name: name}
}

func zdVersion(k rschedv1.KeyStatus, v int64) (rschedv1.KeyVersionStatus, bool) {
	for _, kv := range k.Versions {
		if kv.Version == v {
			return kv, true
		}
	}
	return rschedv1.KeyVersionStatus{}, false
}

func zdHasStaged(k rschedv1.KeyStatus) bool {
	return slices.ContainsFunc(k.Versions, func(v rschedv1.KeyVersionStatus) bool { return v.State == rschedv1.KeyStateStaged })
}

func zdTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
