package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsched/rsched/internal/testenv"
)

const canary = "CANARY-9f2c41d7-secret-value"

func seed(t *testing.T, v *testenv.Vault) {
	t.Helper()
	ctx := context.Background()
	if _, err := v.Client.KVv2("secret").Put(ctx, "rsched/app", map[string]any{"smtp_password": canary, "n": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := v.Client.Sys().PutPolicyWithContext(ctx, "rsched-read", `path "secret/data/rsched/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
}

func TestTokenLoginReadsKVAndClassifiesErrors(t *testing.T) {
	v := testenv.StartVault(t)
	seed(t, v)
	reg := prometheus.NewRegistry()
	f := NewFactory(nil, reg)
	c, err := f.For(Identity{Address: v.Addr, Method: Token, Token: v.Token})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := c.ReadKV(t.Context(), "", "rsched/app")
	if err != nil || kv.Data["smtp_password"] != canary || kv.Version != 1 {
		t.Fatalf("read %v, %v", kv, err)
	}
	if _, _, err := c.ReadKVKey(t.Context(), "secret", "rsched/app", "nope"); !errors.Is(err, ErrKeyMissing) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := c.ReadKV(t.Context(), "secret", "rsched/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	again, _ := f.For(Identity{Address: v.Addr, Method: Token, Token: v.Token})
	if again != c {
		t.Fatal("the same identity must share one client")
	}
	bad, _ := f.For(Identity{Address: v.Addr, Method: Token, Token: "hvs.not-a-token"})
	if _, err := bad.ReadKV(t.Context(), "secret", "rsched/app"); err == nil || errors.Is(err, ErrUnreachable) {
		t.Fatalf("bad token: %v", err)
	} else if strings.Contains(err.Error(), "hvs.not-a-token") {
		t.Fatal("the token reached an error message")
	}
	gone, _ := f.For(Identity{Address: "http://127.0.0.1:1", Method: Token, Token: v.Token})
	if _, err := gone.ReadKV(t.Context(), "secret", "rsched/app"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("read", "success")); n != 2 { // ReadKV and ReadKVKey's read
		t.Fatalf("read successes counted %v", n)
	}
}

func TestAppRoleLoginAndReloginAfterRevocation(t *testing.T) {
	v := testenv.StartVault(t)
	seed(t, v)
	ctx := t.Context()
	if err := v.Client.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &vaultapiAuthOptions); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().WriteWithContext(ctx, "auth/approle/role/rsched", map[string]any{"token_policies": "rsched-read", "token_ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	rid, err := v.Client.Logical().ReadWithContext(ctx, "auth/approle/role/rsched/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := v.Client.Logical().WriteWithContext(ctx, "auth/approle/role/rsched/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFactory(nil, nil)
	c, _ := f.For(Identity{Address: v.Addr, Method: AppRole, RoleID: rid.Data["role_id"].(string), SecretID: sid.Data["secret_id"].(string)})
	if kv, err := c.ReadKV(ctx, "secret", "rsched/app"); err != nil || kv.Data["n"] != "1" {
		t.Fatalf("approle read %v, %v", kv, err)
	}
	// Revoke the client's token behind its back: the next read gets 403, logs in again, succeeds.
	c.mu.Lock()
	tok := c.api.Token()
	c.mu.Unlock()
	if err := v.Client.Auth().Token().RevokeTreeWithContext(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if kv, err := c.ReadKV(ctx, "secret", "rsched/app"); err != nil || kv.Data["n"] != "1" {
		t.Fatalf("read after revocation %v, %v", kv, err)
	}
	// A policy that does not cover the path is a denial, not a missing secret.
	if _, err := v.Client.KVv2("secret").Put(ctx, "other/x", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadKV(ctx, "secret", "other/x"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("outside the policy: %v", err)
	}
	wrong, _ := f.For(Identity{Address: v.Addr, Method: AppRole, RoleID: rid.Data["role_id"].(string), SecretID: "wrong"})
	if _, err := wrong.ReadKV(ctx, "secret", "rsched/app"); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong secret id: %v", err)
	}
}

var vaultapiAuthOptions = vaultapi.EnableAuthOptions{Type: "approle"}

func TestAGivenTokenIsRenewedBeforeItExpires(t *testing.T) {
	v := testenv.StartVault(t)
	seed(t, v)
	ctx := t.Context()
	tok, err := v.Client.Auth().Token().CreateWithContext(ctx, &vaultapi.TokenCreateRequest{Policies: []string{"rsched-read"}, TTL: "30s", Renewable: ptrBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	f := NewFactory(nil, nil)
	now := time.Now()
	f.now = func() time.Time { return now }
	c, _ := f.For(Identity{Address: v.Addr, Method: Token, Token: tok.Auth.ClientToken})
	if _, err := c.ReadKV(ctx, "secret", "rsched/app"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(25 * time.Second) // past two thirds of its life: the next use renews it
	if _, err := c.ReadKV(ctx, "secret", "rsched/app"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("renew", "success")); n != 1 {
		t.Fatalf("renewals %v, want 1", n)
	}
}

func ptrBool(b bool) *bool { return &b }

// noCanary fails the test when a secret value reached an error message.
func noCanary(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), canary) {
			t.Fatalf("a secret value reached an error message: %q", err)
		}
	}
}

func rootClient(t *testing.T, v *testenv.Vault) (*Factory, *Client) {
	t.Helper()
	f := NewFactory(nil, prometheus.NewRegistry())
	c, err := f.For(Identity{Address: v.Addr, Method: Token, Token: v.Token})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestWriteKVAddsVersionsAndVaultKeepsTheHistory(t *testing.T) {
	v := testenv.StartVault(t)
	ctx := t.Context()
	f, c := rootClient(t, v)
	v1, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary + "-1"}, 0)
	if err != nil || v1 != 1 {
		t.Fatalf("first write: version %d, %v", v1, err)
	}
	kv, err := c.ReadKV(ctx, "", "/rsched/keyring/")
	if err != nil || kv.Version != 1 || kv.Data["keys"] != canary+"-1" {
		t.Fatalf("read back %+v, %v", kv, err)
	}
	v2, err := c.WriteKV(ctx, "", "rsched/keyring", map[string]string{"keys": canary + "-2"}, kv.Version)
	if err != nil || v2 != 2 {
		t.Fatalf("second write: version %d, %v", v2, err)
	}
	old, err := v.Client.KVv2("secret").GetVersion(ctx, "rsched/keyring", 1)
	if err != nil || old.Data["keys"] != canary+"-1" || old.VersionMetadata.Version != 1 {
		t.Fatalf("version 1 is not kept: %+v, %v", old, err)
	}
	if kv, err := c.ReadKV(ctx, "secret", "rsched/keyring"); err != nil || kv.Version != 2 || kv.Data["keys"] != canary+"-2" {
		t.Fatalf("latest %+v, %v", kv, err)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("write", "success")); n != 2 {
		t.Fatalf("write successes counted %v, want 2", n)
	}
}

func TestWriteKVWithAStaleVersionConflicts(t *testing.T) {
	v := testenv.StartVault(t)
	ctx := t.Context()
	f, c := rootClient(t, v)
	for cas := range 2 {
		if _, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, cas); err != nil {
			t.Fatal(err)
		}
	}
	var errs []error
	for _, cas := range []int{0, 1, 3} { // "must not exist", one behind, one ahead
		n, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary + "-lost"}, cas)
		if !errors.Is(err, ErrConflict) || n != 0 {
			t.Fatalf("cas %d: version %d, %v; want ErrConflict", cas, n, err)
		}
		errs = append(errs, err)
	}
	noCanary(t, errs...)
	if err := errs[0]; err.Error() != ErrConflict.Error() {
		t.Fatalf("the conflict carries more than the package's text: %q", err)
	}
	meta, err := v.Client.KVv2("secret").GetMetadata(ctx, "rsched/keyring")
	if err != nil || meta.CurrentVersion != 2 {
		t.Fatalf("a losing write changed the secret: %+v, %v", meta, err)
	}
	if kv, err := c.ReadKV(ctx, "secret", "rsched/keyring"); err != nil || kv.Data["keys"] != canary {
		t.Fatalf("latest %+v, %v", kv, err)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("write", "conflict")); n != 3 {
		t.Fatalf("conflicts counted %v, want 3", n)
	}
}

func TestReadKVReportsADeletedOrDestroyedLatestVersionAsNotFoundWithItsVersion(t *testing.T) {
	v := testenv.StartVault(t)
	ctx := t.Context()
	f, c := rootClient(t, v)
	kv, err := c.ReadKV(ctx, "secret", "rsched/keyring")
	if !errors.Is(err, ErrNotFound) || kv == nil || kv.Version != 0 || kv.Data != nil {
		t.Fatalf("never written: %+v, %v", kv, err)
	}
	for cas := range 2 {
		if _, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, cas); err != nil {
			t.Fatal(err)
		}
	}
	kvv2 := v.Client.KVv2("secret")
	if err := kvv2.Delete(ctx, "rsched/keyring"); err != nil { // soft delete of version 2
		t.Fatal(err)
	}
	kv, err = c.ReadKV(ctx, "secret", "rsched/keyring")
	if !errors.Is(err, ErrNotFound) || kv == nil || kv.Version != 2 || kv.Data != nil {
		t.Fatalf("deleted latest: %+v, %v", kv, err)
	}
	noCanary(t, err)
	// The version that came with ErrNotFound is the cas of the next write.
	if n, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, kv.Version); err != nil || n != 3 {
		t.Fatalf("write after delete: version %d, %v", n, err)
	}
	if err := kvv2.Destroy(ctx, "rsched/keyring", []int{3}); err != nil {
		t.Fatal(err)
	}
	kv, err = c.ReadKV(ctx, "secret", "rsched/keyring")
	if !errors.Is(err, ErrNotFound) || kv == nil || kv.Version != 3 || kv.Data != nil {
		t.Fatalf("destroyed latest: %+v, %v", kv, err)
	}
	if _, _, err := c.ReadKVKey(ctx, "secret", "rsched/keyring", "keys"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadKVKey of a destroyed latest version: %v", err)
	}
	// With its metadata gone the secret starts over at version 1.
	if err := kvv2.DeleteMetadata(ctx, "rsched/keyring"); err != nil {
		t.Fatal(err)
	}
	kv, err = c.ReadKV(ctx, "secret", "rsched/keyring")
	if !errors.Is(err, ErrNotFound) || kv.Version != 0 {
		t.Fatalf("metadata deleted: %+v, %v", kv, err)
	}
	if n, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, kv.Version); err != nil || n != 1 {
		t.Fatalf("write after metadata delete: version %d, %v", n, err)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("read", "not_found")); n != 5 { // ReadKVKey reads too
		t.Fatalf("read not_found counted %v, want 5", n)
	}
}

func TestWriteKVWithAReadOnlyPolicyIsForbidden(t *testing.T) {
	v := testenv.StartVault(t)
	seed(t, v) // rsched/app at version 1, policy rsched-read
	ctx := t.Context()
	tok, err := v.Client.Auth().Token().CreateWithContext(ctx, &vaultapi.TokenCreateRequest{Policies: []string{"rsched-read"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	f := NewFactory(nil, nil)
	c, _ := f.For(Identity{Address: v.Addr, Method: Token, Token: tok.Auth.ClientToken})
	kv, err := c.ReadKV(ctx, "secret", "rsched/app")
	if err != nil {
		t.Fatal(err)
	}
	// The token is valid (its lookup succeeds, so the login is not refused): Vault denies the
	// write itself, with a 403 on both tries.
	_, err = c.WriteKV(ctx, "secret", "rsched/app", map[string]string{"smtp_password": canary + "-new"}, kv.Version)
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("read-only write: %v, want ErrForbidden", err)
	}
	noCanary(t, err)
	if strings.Contains(err.Error(), tok.Auth.ClientToken) {
		t.Fatal("the token reached an error message")
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("write", "denied")); n != 2 {
		t.Fatalf("denied writes counted %v, want 2 (the write and its one retry after logging in again)", n)
	}
	if kv, err := v.Client.KVv2("secret").Get(ctx, "rsched/app"); err != nil || kv.VersionMetadata.Version != 1 || kv.Data["smtp_password"] != canary {
		t.Fatalf("a denied write changed the secret: %v", err)
	}
}

func TestWriteKVLogsInAgainOnceAfterRevocation(t *testing.T) {
	v := testenv.StartVault(t)
	ctx := t.Context()
	if err := v.Client.Sys().PutPolicyWithContext(ctx, "rsched-keyring", `path "secret/data/rsched/*" { capabilities = ["create", "update", "read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := v.Client.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &vaultapiAuthOptions); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Client.Logical().WriteWithContext(ctx, "auth/approle/role/rsched", map[string]any{"token_policies": "rsched-keyring", "token_ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	rid, err := v.Client.Logical().ReadWithContext(ctx, "auth/approle/role/rsched/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := v.Client.Logical().WriteWithContext(ctx, "auth/approle/role/rsched/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := NewFactory(nil, nil)
	c, _ := f.For(Identity{Address: v.Addr, Method: AppRole, RoleID: rid.Data["role_id"].(string), SecretID: sid.Data["secret_id"].(string)})
	if n, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, 0); err != nil || n != 1 {
		t.Fatalf("first write: %d, %v", n, err)
	}
	c.mu.Lock()
	tok := c.api.Token()
	c.mu.Unlock()
	if err := v.Client.Auth().Token().RevokeTreeWithContext(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if n, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, 1); err != nil || n != 2 {
		t.Fatalf("write after revocation: %d, %v", n, err)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("write", "denied")); n != 1 {
		t.Fatalf("denied writes counted %v, want 1", n)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("login", "success")); n != 2 {
		t.Fatalf("logins counted %v, want 2", n)
	}
	// Outside the policy's paths the write is denied, not a missing secret.
	if _, err := c.WriteKV(ctx, "secret", "other/x", map[string]string{"a": canary}, 0); !errors.Is(err, ErrForbidden) {
		t.Fatalf("outside the policy: %v", err)
	}
}

func TestWriteKVWhenVaultIsGoneIsUnreachable(t *testing.T) {
	v := testenv.StartVault(t)
	ctx := t.Context()
	f, c := rootClient(t, v)
	if _, err := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, 0); err != nil {
		t.Fatal(err)
	}
	never, _ := f.For(Identity{Address: "http://127.0.0.1:1", Method: Token, Token: v.Token})
	_, errNever := never.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, 1)
	if !errors.Is(errNever, ErrUnreachable) {
		t.Fatalf("never reachable: %v", errNever)
	}
	if err := v.Stop(); err != nil {
		t.Fatal(err)
	}
	// A logged-in client whose Vault went away: the write itself fails, and is counted as such.
	_, errGone := c.WriteKV(ctx, "secret", "rsched/keyring", map[string]string{"keys": canary}, 1)
	if !errors.Is(errGone, ErrUnreachable) {
		t.Fatalf("gone: %v", errGone)
	}
	noCanary(t, errNever, errGone)
	if n := testutil.ToFloat64(f.requests.WithLabelValues("write", "unreachable")); n != 1 {
		t.Fatalf("unreachable writes counted %v, want 1 (the other client failed at its login)", n)
	}
	if n := testutil.CollectAndCount(f.requests); n != 4*6 {
		t.Errorf("rsched_vault_requests_total has %d series, want the 24 it starts with (a failure made a new one)", n)
	}
}

// Every operation and result is a series at 0 before the first request, so that increase() sees
// the first failure: a series born at 1 has no earlier sample to increase from.
func TestVaultRequestSeriesStartAtZero(t *testing.T) {
	f := NewFactory(nil, nil)
	if n := testutil.CollectAndCount(f.requests); n != 4*6 {
		t.Fatalf("rsched_vault_requests_total has %d series before any request, want 24 (4 operations x 6 results)", n)
	}
	if n := testutil.ToFloat64(f.requests.WithLabelValues("login", "unreachable")); n != 0 {
		t.Errorf("login unreachable = %v before any request, want 0", n)
	}
}

func TestWriteKVToAMountThatIsNotKVv2(t *testing.T) {
	v := testenv.StartVault(t)
	ctx := t.Context()
	if err := v.Client.Sys().MountWithContext(ctx, "kv1", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	f, c := rootClient(t, v)
	_, errV1 := c.WriteKV(ctx, "kv1", "rsched/keyring", map[string]string{"keys": canary}, 0)
	if !errors.Is(errV1, ErrInvalid) {
		t.Fatalf("KV v1 mount: %v, want ErrInvalid", errV1)
	}
	_, errNone := c.WriteKV(ctx, "nomount", "rsched/keyring", map[string]string{"keys": canary}, 0)
	if !errors.Is(errNone, ErrNotFound) {
		t.Fatalf("no mount: %v, want ErrNotFound", errNone)
	}
	_, errArgs := c.WriteKV(ctx, "secret", "/", map[string]string{"keys": canary}, 0)
	if !errors.Is(errArgs, ErrInvalid) {
		t.Fatalf("no path: %v, want ErrInvalid", errArgs)
	}
	noCanary(t, errV1, errNone, errArgs)
	if n := testutil.ToFloat64(f.requests.WithLabelValues("write", "error")); n != 1 { // the empty path never reached Vault
		t.Fatalf("write errors counted %v, want 1", n)
	}
}
