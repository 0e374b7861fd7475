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
