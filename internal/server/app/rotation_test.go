package app

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
)

// A rotation as the KeyRotationPolicy performs it, under load on two replicas that pick up each
// keyring version at different moments: publish the new key (staged), make it active with the old
// one verify-only, and finally let the old one lapse. No request may fail at any step.
func TestKeyringRotationUnderConcurrentLoadFailsNoRequest(t *testing.T) {
	e := newEnv(t, 2, nil)
	admin := e.bootstrap()
	sig2 := keyringtest.Random(64)
	enc := []keyringtest.Key{{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: secretAES}}
	staged := keyringtest.Build(t, 2, []keyringtest.Key{
		{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.Active, Material: secretHS},
		{KID: "sig-2", Algorithm: keyring.HS512, State: keyring.Staged, Material: sig2},
	}, enc)
	graceEnd := e.clock.Now().Add(5 * time.Minute)
	rotated := keyringtest.Build(t, 3, []keyringtest.Key{
		{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.VerifyOnly, Material: secretHS, NotAfter: graceEnd},
		{KID: "sig-2", Algorithm: keyring.HS512, State: keyring.Active, Material: sig2},
	}, enc)

	var tokens sync.Map // token -> struct{}
	tokens.Store(admin.Access, struct{}{})
	var served, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tokens.Range(func(k, _ any) bool {
					r, _ := http.NewRequest("GET", e.servers[(w+i)%2].URL+"/api/v1/auth/me", nil)
					r.Header.Set("Authorization", "Bearer "+k.(string))
					res, err := client.Do(r)
					if err != nil || res.StatusCode != 200 {
						failed.Add(1)
					} else {
						served.Add(1)
					}
					if res != nil {
						res.Body.Close()
					}
					return true
				})
			}
		}()
	}
	// New tokens keep being issued by both replicas throughout.
	issue := func(instance int) string {
		r := e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": admin.Refresh}, req{instance: instance}).want(t, 200, "refresh under load")
		admin.Refresh = r.str("refresh_token")
		tokens.Store(r.str("access_token"), struct{}{})
		return r.str("access_token")
	}
	step := func(instance int, kr *keyring.Keyring) {
		time.Sleep(150 * time.Millisecond)
		e.keys[instance].Set(kr)
		issue(0)
		issue(1)
	}
	step(0, staged)
	step(1, staged)
	step(0, rotated) // replica 0 signs with sig-2 while replica 1 still has it only staged
	step(1, rotated)
	last := issue(1)
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || served.Load() < 100 {
		t.Fatalf("%d requests failed, %d served during the rotation", failed.Load(), served.Load())
	}
	t.Logf("%d authenticated requests served during the rotation, none failed", served.Load())
	if h := jwtHeader(t, last); h["kid"] != "sig-2" || h["alg"] != "HS512" {
		t.Fatalf("new tokens signed with %v", h)
	}
	// After the grace period the old key verifies nothing.
	e.clock.Advance(6 * time.Minute)
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 401, "sig-1 token after its grace period")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: last}).want(t, 200, "sig-2 token")
}

// A new encryption key: the rewrap job re-seals the MFA secrets, then the old key can go and
// MFA still works.
func TestRewrapMovesSealedFieldsToTheNewKey(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	en := e.call("POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": admin.Password}, req{bearer: admin.Access}).want(t, 200, "enrol")
	e.call("POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": totpCode(t, en.str("secret"), e.clock.Now())}, req{bearer: admin.Access}).want(t, 200, "confirm")
	enc2 := keyringtest.Random(32)
	sig := []keyringtest.Key{{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.Active, Material: secretHS}}
	e.keys[0].Set(keyringtest.Build(t, 2, sig, []keyringtest.Key{
		{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.DecryptOnly, Material: secretAES},
		{KID: "enc-2", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: enc2},
	}))
	st, err := e.apps[0].Rewrap.Run(t.Context())
	if err != nil || st.Rewrapped != 1 || st.Pending != 0 || st.Failed != 0 || st.ActiveKID != "enc-2" {
		t.Fatalf("rewrap %+v, %v", st, err)
	}
	got := e.call("GET", "/api/v1/admin/keys/rewrap", nil, req{bearer: admin.Access}).want(t, 200, "status endpoint")
	if got.Body["rewrapped"] != float64(1) || got.Body["pending"] != float64(0) {
		t.Fatalf("status %v", got.Body)
	}
	// Drop the old key entirely: sign-in with MFA still works.
	e.keys[0].Set(keyringtest.Build(t, 3, sig, []keyringtest.Key{
		{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.Retired},
		{KID: "enc-2", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: enc2},
	}))
	e.clock.Advance(31 * time.Second)
	ch := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": admin.Password}, req{}).want(t, 200, "password step")
	e.call("POST", "/api/v1/auth/mfa/verify", map[string]any{"mfa_token": ch.str("mfa_token"), "code": totpCode(t, en.str("secret"), e.clock.Now())}, req{}).
		want(t, 200, "MFA with the rewrapped secret")
}
