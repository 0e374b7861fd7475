package v1alpha1_test

// These tests run against a real kube-apiserver and etcd with the generated CRDs installed: what
// they check is what the API server enforces at admission, not what Go code thinks it should.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

var kube *testenv.Kube

func TestMain(m *testing.M) {
	var err error
	if kube, err = testenv.NewKube(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := kube.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the API server:", err)
		code = 1
	}
	os.Exit(code)
}

var nsCounter atomic.Int32

// namespace creates a fresh namespace so tests never see each other's objects.
func namespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%100000, nsCounter.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := kube.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

func sample(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return u
}

// build is sample file as object name in namespace ns, with the mutations applied.
func build(t *testing.T, ns, file, name string, ms ...mutation) *unstructured.Unstructured {
	t.Helper()
	u := sample(t, file)
	u.SetNamespace(ns)
	if name != "" {
		u.SetName(name)
	}
	for _, m := range ms {
		m(u.Object)
	}
	return u
}

// createSample creates sample file, mutated, in a fresh namespace and fails the test if the API
// server refuses it.
func createSample(t *testing.T, file string, ms ...mutation) *unstructured.Unstructured {
	t.Helper()
	u := build(t, namespace(t), file, "", ms...)
	if err := kube.Client.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func sampleFiles(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "scheduling_*.yaml"))
	if err != nil || len(m) < 4 {
		t.Fatalf("expected at least 4 samples, found %d (%v)", len(m), err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func TestEverySampleIsAccepted(t *testing.T) {
	ns := namespace(t)
	for _, f := range sampleFiles(t) {
		u := sample(t, f)
		u.SetNamespace(ns)
		if err := kube.Client.Create(context.Background(), u); err != nil {
			t.Errorf("%s rejected: %v", f, err)
		}
	}
}

func TestDefaultsAppearOnCreatedObjects(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	for _, f := range []string{"scheduling_v1alpha1_schedulerinstance_minimal.yaml", "scheduling_v1alpha1_keyrotationpolicy_minimal.yaml"} {
		u := sample(t, f)
		u.SetNamespace(ns)
		if err := kube.Client.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}

	si := &v1.SchedulerInstance{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "minimal"}, si); err != nil {
		t.Fatal(err)
	}
	s := si.Spec
	checks := []struct {
		field     string
		got, want any
	}{
		{"replicas", *s.Replicas, int32(2)},
		{"auth.accessTokenTTL", s.Auth.AccessTokenTTL.Duration, 15 * time.Minute},
		{"auth.refreshTokenTTL", s.Auth.RefreshTokenTTL.Duration, 168 * time.Hour},
		{"auth.lockout.maxFailedAttempts", s.Auth.Lockout.MaxFailedAttempts, int32(5)},
		{"auth.lockout.duration", s.Auth.Lockout.Duration.Duration, 30 * time.Minute},
		{"auth.mfaRequiredRoles", fmt.Sprint(s.Auth.MFARequiredRoles), "[admin]"},
		{"auth.passwordPolicy.minLength", s.Auth.PasswordPolicy.MinLength, int32(12)},
		{"auth.passwordPolicy.historySize", *s.Auth.PasswordPolicy.HistorySize, int32(5)},
		{"auth.passwordPolicy.maxAge", s.Auth.PasswordPolicy.MaxAge.Duration, 2160 * time.Hour},
		{"rateLimit.login", fmt.Sprint(s.RateLimit.Login.Requests, "/", s.RateLimit.Login.Period.Duration), "5/1m0s"},
		{"rateLimit.register", fmt.Sprint(s.RateLimit.Register.Requests, "/", s.RateLimit.Register.Period.Duration), "3/1m0s"},
		{"rateLimit.api", fmt.Sprint(s.RateLimit.API.Requests, "/", s.RateLimit.API.Period.Duration), "600/1m0s"},
		{"network.policy", s.Network.Policy, v1.NetworkPolicyEnforce},
		{"service.type", s.Service.Type, corev1.ServiceTypeClusterIP},
		{"service.port", s.Service.Port, int32(8080)},
		{"security.hsts", *s.Security.HSTS, true},
		{"security.cspReportOnly", s.Security.CSPReportOnly, false},
		{"database.tls.mode", s.Database.TLS.Mode, "verify-full"},
		{"database.tls.insecureAllowUnverified", s.Database.TLS.InsecureAllowUnverified, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("SchedulerInstance %s defaulted to %v, want %v", c.field, c.got, c.want)
		}
	}

	krp := &v1.KeyRotationPolicy{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "minimal-keys"}, krp); err != nil {
		t.Fatal(err)
	}
	p := krp.Spec
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"gracePeriod", p.GracePeriod.Duration, 24 * time.Hour},
		{"retain", p.Retain, int32(3)},
		{"suspend", p.Suspend, false},
		{"rollout", p.Rollout, v1.RolloutHotReload},
	} {
		if c.got != c.want {
			t.Errorf("KeyRotationPolicy %s defaulted to %v, want %v", c.field, c.got, c.want)
		}
	}

	// Defaults inside optional sections appear once the section is given.
	full := sample(t, "scheduling_v1alpha1_schedulerinstance_full.yaml")
	full.SetNamespace(ns)
	full.SetName("vault-defaults")
	must(unstructured.SetNestedSlice(full.Object, []any{map[string]any{"path": "rsched/app"}}, "spec", "vault", "secrets"))
	must(unstructured.SetNestedMap(full.Object, map[string]any{"role": "r"}, "spec", "vault", "auth", "kubernetes"))
	unstructured.RemoveNestedField(full.Object, "spec", "vault", "refreshInterval")
	if err := kube.Client.Create(ctx, full); err != nil {
		t.Fatal(err)
	}
	got := &v1.SchedulerInstance{}
	if err := kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vault-defaults"}, got); err != nil {
		t.Fatal(err)
	}
	va := got.Spec.Vault
	if va.Auth.Kubernetes.MountPath != "kubernetes" || fmt.Sprint(va.Auth.Kubernetes.Audiences) != "[vault]" ||
		va.Secrets[0].Mount != "secret" || va.RefreshInterval.Duration != time.Hour || va.InsecureAllowHTTP {
		t.Errorf("vault defaults not applied: %+v", va)
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// mutation changes a valid object into an invalid one.
type mutation func(obj map[string]any)

func set(value any, path ...string) mutation {
	return func(obj map[string]any) {
		if err := unstructured.SetNestedField(obj, value, path...); err != nil {
			panic(fmt.Sprintf("set %v: %v", path, err))
		}
	}
}

func del(path ...string) mutation {
	return func(obj map[string]any) { unstructured.RemoveNestedField(obj, path...) }
}

func all(ms ...mutation) mutation {
	return func(obj map[string]any) {
		for _, m := range ms {
			m(obj)
		}
	}
}

// list builds a JSON array; with no items it is [] (a nil slice would be sent as null, which the
// API server prunes and then defaults).
func list(items ...any) []any {
	if items == nil {
		return []any{}
	}
	return items
}

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func key(name, purpose, alg string) map[string]any {
	return obj("name", name, "purpose", purpose, "algorithm", alg)
}

const (
	siFull  = "scheduling_v1alpha1_schedulerinstance_full.yaml"
	siMin   = "scheduling_v1alpha1_schedulerinstance_minimal.yaml"
	krpFull = "scheduling_v1alpha1_keyrotationpolicy_full.yaml"
	krpMin  = "scheduling_v1alpha1_keyrotationpolicy_minimal.yaml"
)

func TestInvalidSpecsAreRejectedAtAdmission(t *testing.T) {
	ns := namespace(t)
	cases := []struct {
		name   string
		base   string
		mutate mutation
		want   string // a substring of the API server's message
	}{
		// SchedulerInstance
		{"replicas below 1", siMin, set(int64(0), "spec", "replicas"), "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1"},
		{"replicas above 50", siMin, set(int64(51), "spec", "replicas"), "spec.replicas in body should be less than or equal to 50"},
		{"database with both sources", siFull, set(obj("name", "db", "key", "url"), "spec", "database", "urlSecretRef"), "set exactly one of database.urlSecretRef and database.vault"},
		{"database with no source", siMin, set(obj(), "spec", "database"), "set exactly one of database.urlSecretRef and database.vault"},
		{"database from vault without vault", siFull, del("spec", "vault"), "database.vault reads the database URL from Vault, so spec.vault (the Vault connection) must be set"},
		{"vault over plain http", siFull, set("http://vault:8200", "spec", "vault", "address"), "vault.address must use https://; plain http:// is allowed only with insecureAllowHTTP: true"},
		{"vault address without host", siFull, set("https://", "spec", "vault", "address"), "vault.address must be an absolute URL"},
		{"vault address with credentials", siFull, set("https://admin:hunter2@vault:8200", "spec", "vault", "address"), "vault.address must be an absolute URL such as https://vault.example.com:8200, without credentials"},
		{"empty Vault token audiences", siFull, set(list(), "spec", "vault", "auth", "kubernetes", "audiences"), "spec.vault.auth.kubernetes.audiences in body should have at least 1 items"},
		{"the same Vault secret twice", siFull, set(list(obj("path", "rsched/app"), obj("mount", "secret", "path", "rsched/app")), "spec", "vault", "secrets"), `spec.vault.secrets[1]: Duplicate value`},
		{"Vault path escaping with ..", siFull, set(list(obj("path", "rsched/../other-team")), "spec", "vault", "secrets"), "path must not contain . or .. segments"},
		{"duration too large to represent", siMin, set("99999999h", "spec", "auth", "accessTokenTTL"), "accessTokenTTL must be a duration from 1m to 1h"},
		{"vault with no auth method", siFull, set(obj(), "spec", "vault", "auth"), "set exactly one of vault.auth.kubernetes, vault.auth.appRole and vault.auth.tokenSecretRef"},
		{"vault with two auth methods", siFull, set(obj("name", "vault-token", "key", "token"), "spec", "vault", "auth", "tokenSecretRef"), "set exactly one of vault.auth.kubernetes, vault.auth.appRole and vault.auth.tokenSecretRef"},
		{"vault refresh under 1m", siFull, set("30s", "spec", "vault", "refreshInterval"), "refreshInterval must be a duration of at least 1m"},
		{"scheduling time zone Local", siMin, set("Local", "spec", "scheduling", "timeZone"), "scheduling.timeZone must be an IANA time zone name"},
		{"scheduling time zone not a zone name", siMin, set("Central Time", "spec", "scheduling", "timeZone"), "scheduling.timeZone must be an IANA time zone name"},
		{"default time budget below 100ms", siMin, set("10ms", "spec", "scheduling", "defaultTimeBudget"), "defaultTimeBudget must be a duration from 100ms to 10m"},
		{"max time budget over 10m", siMin, set("1h", "spec", "scheduling", "maxTimeBudget"), "maxTimeBudget must be a duration from 1s to 10m"},
		{"default time budget above the maximum", siMin, all(set("2m", "spec", "scheduling", "defaultTimeBudget"), set("1m", "spec", "scheduling", "maxTimeBudget")), "scheduling.defaultTimeBudget must not exceed scheduling.maxTimeBudget"},
		{"access token TTL over 1h", siMin, set("2h", "spec", "auth", "accessTokenTTL"), "accessTokenTTL must be a duration from 1m to 1h"},
		{"access token TTL not a duration", siMin, set("fifteen minutes", "spec", "auth", "accessTokenTTL"), "accessTokenTTL must be a duration from 1m to 1h"},
		{"refresh token TTL under 1h", siMin, set("30m", "spec", "auth", "refreshTokenTTL"), "refreshTokenTTL must be a duration of at least 1h"},
		{"refresh TTL not longer than access TTL", siMin, all(set("1h", "spec", "auth", "accessTokenTTL"), set("60m", "spec", "auth", "refreshTokenTTL")), "auth.refreshTokenTTL must be longer than auth.accessTokenTTL"},
		{"lockout after 0 attempts", siMin, set(int64(0), "spec", "auth", "lockout", "maxFailedAttempts"), "spec.auth.lockout.maxFailedAttempts in body should be greater than or equal to 1"},
		{"lockout duration over 24h", siMin, set("48h", "spec", "auth", "lockout", "duration"), "lockout.duration must be a duration from 1m to 24h"},
		{"MFA for an unknown role", siMin, set(list("admin", "superuser"), "spec", "auth", "mfaRequiredRoles"), `Unsupported value: "superuser"`},
		{"password shorter than 8", siMin, set(int64(6), "spec", "auth", "passwordPolicy", "minLength"), "spec.auth.passwordPolicy.minLength in body should be greater than or equal to 8"},
		{"password max age of 1h", siMin, set("1h", "spec", "auth", "passwordPolicy", "maxAge"), "passwordPolicy.maxAge must be 0s (no expiry) or a duration of at least 24h"},
		{"login limit of 0 requests", siMin, set(obj("requests", int64(0), "period", "1m"), "spec", "rateLimit", "login"), "spec.rateLimit.login.requests in body should be greater than or equal to 1"},
		{"rate-limit period under 1s", siMin, set(obj("requests", int64(10), "period", "500ms"), "spec", "rateLimit", "api"), "period must be a duration from 1s to 24h"},
		{"rate limit without period", siMin, set(obj("requests", int64(10)), "spec", "rateLimit", "register"), `spec.rateLimit.register.period: Required value`},
		{"trusted proxy not a CIDR", siMin, set(list("10.0.0.0/8", "10.0.0.1/33"), "spec", "rateLimit", "trustedProxies"), "must be a CIDR such as 10.0.0.0/8"},
		{"trusting every address", siMin, set(list("0.0.0.0/0"), "spec", "rateLimit", "trustedProxies"), "and not /0"},
		{"unknown network policy mode", siMin, set("Audit", "spec", "network", "policy"), `Unsupported value: "Audit"`},
		{"empty egress rule", siFull, set(obj(), "spec", "network", "egressTo", "database"), "an egress rule needs at least one of to and ports"},
		{"service port above 65535", siMin, set(int64(70000), "spec", "service", "port"), "spec.service.port in body should be less than or equal to 65535"},
		{"ExternalName service", siMin, set("ExternalName", "spec", "service", "type"), `Unsupported value: "ExternalName"`},
		{"wildcard CORS origin", siMin, set(list("*"), "spec", "security", "allowedOrigins"), "must be an origin such as https://schedule.example.org"},
		{"CORS origin with a path", siMin, set(list("https://schedule.example.org/app"), "spec", "security", "allowedOrigins"), "must be an origin such as https://schedule.example.org"},
		{"reserved pod label", siMin, set(obj("app.kubernetes.io/name", "x"), "spec", "podLabels"), "podLabels must not use the reserved prefixes"},
		{"reserved pod annotation", siMin, set(obj("scheduling.rsched.io/restart", "x"), "spec", "podAnnotations"), "podAnnotations must not use the reserved prefix"},
		{"secret name not a DNS name", siMin, set("Bad_Name", "spec", "database", "urlSecretRef", "name"), "spec.database.urlSecretRef.name in body should match"},
		{"vault KV path with empty segment", siFull, set(list(obj("path", "rsched//app")), "spec", "vault", "secrets"), "spec.vault.secrets[0].path in body should match"},
		{"tls duration under 1h", siMin, set("30m", "spec", "tls", "duration"), "tls.duration must be a duration from 1h to 8760h"},
		{"tls duration over a year", siMin, set("9000h", "spec", "tls", "duration"), "tls.duration must be a duration from 1h to 8760h"},
		{"tls duration past the CA's", siMin, all(set("2000h", "spec", "tls", "duration"), set("1000h", "spec", "tls", "caDuration")), "tls.duration must not exceed tls.caDuration"},
		{"tls renewBefore not shorter than duration", siMin, all(set("24h", "spec", "tls", "duration"), set("24h", "spec", "tls", "renewBefore")), "tls.renewBefore must be shorter than tls.duration"},
		{"tls caRenewBefore not shorter than caDuration", siMin, all(set("48h", "spec", "tls", "caDuration"), set("72h", "spec", "tls", "caRenewBefore")), "tls.caRenewBefore must be shorter than tls.caDuration"},
		{"tls CA for under a day", siMin, set("12h", "spec", "tls", "caDuration"), "tls.caDuration must be a duration from 24h to 87600h"},
		{"tls trust propagation of 1s", siMin, set("1s", "spec", "tls", "trustPropagation"), "tls.trustPropagation must be a duration from 10s to 168h"},
		{"tls overlap not a duration", siMin, set("a while", "spec", "tls", "overlap"), "tls.overlap must be a duration from 10s to 168h"},
		{"tls wildcard DNS name", siMin, set(list("*.example.org"), "spec", "tls", "dnsNames"), "spec.tls.dnsNames[0] in body should match"},
		{"tls secretRef with lifetimes", siMin, all(set(obj("name", "mine"), "spec", "tls", "secretRef"), set("720h", "spec", "tls", "duration")), "tls.secretRef brings your own certificate"},
		{"tls secretRef with DNS names", siMin, all(set(obj("name", "mine"), "spec", "tls", "secretRef"), set(list("a.example.org"), "spec", "tls", "dnsNames")), "tls.secretRef brings your own certificate"},
		{"tls secretRef and issuerRef", siMin, all(set(obj("name", "mine"), "spec", "tls", "secretRef"), set(obj("name", "ca"), "spec", "tls", "issuerRef")), "set at most one of tls.secretRef and tls.issuerRef"},
		{"tls issuerRef with CA lifetimes", siMin, all(set(obj("name", "ca"), "spec", "tls", "issuerRef"), set("8760h", "spec", "tls", "caDuration")), "tls.issuerRef: the CA is cert-manager's issuer's"},
		{"tls issuerRef of an unknown kind", siMin, set(obj("name", "ca", "kind", "Vault"), "spec", "tls", "issuerRef"), `Unsupported value: "Vault"`},
		{"ingress without host", siMin, set(obj("className", "nginx"), "spec", "ingress"), "spec.ingress.host: Required value"},
		{"ingress with a TLS Secret and an issuer", siMin, set(obj("host", "s.example.org", "tlsSecretName", "s-tls", "issuerRef", obj("name", "le")), "spec", "ingress"), "set at most one of ingress.tlsSecretName and ingress.issuerRef"},
		{"ingress annotation with the reserved prefix", siMin, set(obj("host", "s.example.org", "annotations", obj("scheduling.rsched.io/x", "y")), "spec", "ingress"), "ingress.annotations must not use the reserved prefix"},
		{"service annotation with the reserved prefix", siMin, set(obj("scheduling.rsched.io/managed-annotations", "x"), "spec", "service", "annotations"), "service.annotations must not use the reserved prefix"},
		{"database over plain text without the opt-out", siMin, set("disable", "spec", "database", "tls", "mode"), "database.tls.mode require or disable does not verify the database's certificate"},
		{"database require without the opt-out", siMin, set("require", "spec", "database", "tls", "mode"), "it needs insecureAllowUnverified: true"},
		{"database opt-out with verify-full", siMin, set(true, "spec", "database", "tls", "insecureAllowUnverified"), "which is refused with verify-full and verify-ca"},
		{"database sslmode prefer", siMin, set("prefer", "spec", "database", "tls", "mode"), `Unsupported value: "prefer"`},
		{"database CA from a Secret and Vault", siFull, all(set(obj("name", "pg-ca", "key", "ca.crt"), "spec", "database", "tls", "caSecretRef"), set(obj("path", "rsched/db-tls", "key", "ca.crt"), "spec", "database", "tls", "caVault")), "set at most one of database.tls.caSecretRef and database.tls.caVault"},
		{"database client certificate from a Secret and Vault", siFull, all(set(obj("name", "pg-client"), "spec", "database", "tls", "clientCertSecretRef"), set(obj("path", "rsched/db-client"), "spec", "database", "tls", "clientCertVault")), "set at most one of database.tls.clientCertSecretRef and database.tls.clientCertVault"},
		{"database CA from Vault without vault", siMin, set(obj("path", "rsched/db-tls", "key", "ca.crt"), "spec", "database", "tls", "caVault"), "database.tls.caVault and database.tls.clientCertVault read from Vault, so spec.vault (the Vault connection) must be set"},
		{"database client certificate from Vault without vault", siMin, set(obj("path", "rsched/db-client"), "spec", "database", "tls", "clientCertVault"), "database.tls.caVault and database.tls.clientCertVault read from Vault, so spec.vault"},
		{"database CA from Vault with an unverified mode", siFull, all(set("require", "spec", "database", "tls", "mode"), set(true, "spec", "database", "tls", "insecureAllowUnverified"), set(obj("path", "rsched/db-tls", "key", "ca.crt"), "spec", "database", "tls", "caVault")), "database.tls.caVault is used only with mode verify-full or verify-ca"},
		{"database CA Vault path escaping with ..", siFull, set(obj("path", "rsched/../other-team", "key", "ca.crt"), "spec", "database", "tls", "caVault"), "path must not contain . or .. segments"},
		{"database client certificate key name with a slash", siFull, set(obj("path", "rsched/db-client", "privateKeyKey", "a/b"), "spec", "database", "tls", "clientCertVault"), "spec.database.tls.clientCertVault.privateKeyKey in body should match"},
		{"database CA with an unverified mode", siMin, all(set("require", "spec", "database", "tls", "mode"), set(true, "spec", "database", "tls", "insecureAllowUnverified"), set(obj("name", "pg-ca", "key", "ca.crt"), "spec", "database", "tls", "caSecretRef")), "database.tls.caSecretRef is used only with mode verify-full or verify-ca"},

		// KeyRotationPolicy
		{"empty key list", krpMin, set(list(), "spec", "keys"), "spec.keys: Invalid value: 0: spec.keys in body should have at least 1 items"},
		{"no key list", krpMin, del("spec", "keys"), "spec.keys: Required value"},
		{"three keys", krpMin, set(list(key("a", "Signing", "HS256"), key("b", "Encryption", "AES256GCM"), key("c", "Signing", "HS256")), "spec", "keys"), "must have at most 2 items"},
		{"two signing keys", krpMin, set(list(key("a", "Signing", "HS256"), key("b", "Signing", "EdDSA")), "spec", "keys"), "spec.keys holds at most one Signing and one Encryption key"},
		{"two encryption keys", krpMin, set(list(key("a", "Encryption", "AES256GCM"), key("b", "Encryption", "AES256GCM")), "spec", "keys"), "spec.keys holds at most one Signing and one Encryption key"},
		{"duplicate key names", krpMin, set(list(key("jwt", "Signing", "HS256"), key("jwt", "Signing", "HS512")), "spec", "keys"), `spec.keys[1]: Duplicate value: {"name":"jwt"}`},
		{"key name not a DNS label", krpMin, set(list(key("JWT_key", "Signing", "HS256")), "spec", "keys"), "spec.keys[0].name in body should match"},
		{"signing key with AES", krpMin, set(list(key("jwt", "Signing", "AES256GCM")), "spec", "keys"), "a Signing key uses HS256, HS512 or EdDSA; an Encryption key uses AES256GCM"},
		{"encryption key with HMAC", krpMin, set(list(key("fields", "Encryption", "HS256")), "spec", "keys"), "a Signing key uses HS256, HS512 or EdDSA; an Encryption key uses AES256GCM"},
		{"unknown purpose", krpMin, set(list(key("jwt", "Auth", "HS256")), "spec", "keys"), `Unsupported value: "Auth"`},
		{"unknown algorithm", krpMin, set(list(key("jwt", "Signing", "RS256")), "spec", "keys"), `Unsupported value: "RS256"`},
		{"schedule with every and cron", krpMin, set("0 3 * * 0", "spec", "schedule", "cron"), "set exactly one of schedule.every and schedule.cron"},
		{"schedule with neither", krpMin, set(obj(), "spec", "schedule"), "set exactly one of schedule.every and schedule.cron"},
		{"every under 1m", krpMin, set("30s", "spec", "schedule", "every"), "schedule.every must be a duration of at least 1m"},
		{"cron with 4 fields", krpFull, set("0 3 * *", "spec", "schedule", "cron"), "schedule.cron must be a 5-field cron expression"},
		{"cron minute 61", krpFull, set("61 3 * * *", "spec", "schedule", "cron"), "schedule.cron must be a 5-field cron expression"},
		{"cron day-of-week 9", krpFull, set("0 3 * * 9", "spec", "schedule", "cron"), "schedule.cron must be a 5-field cron expression"},
		{"cron step of 0", krpFull, set("*/0 * * * *", "spec", "schedule", "cron"), "schedule.cron must be a 5-field cron expression"},
		{"time zone Local", krpFull, set("Local", "spec", "schedule", "timeZone"), "not Local"},
		{"time zone with every", krpMin, set("UTC", "spec", "schedule", "timeZone"), "schedule.timeZone applies only to schedule.cron"},
		{"time zone not a zone name", krpFull, set("Central Time", "spec", "schedule", "timeZone"), "schedule.timeZone must be an IANA time zone name"},
		{"grace period under 1m", krpMin, set("30s", "spec", "gracePeriod"), "gracePeriod must be a duration from 1m to 2160h"},
		{"retain 0", krpMin, set(int64(0), "spec", "retain"), "spec.retain in body should be greater than or equal to 1"},
		{"retain 21", krpMin, set(int64(21), "spec", "retain"), "spec.retain in body should be less than or equal to 20"},
		{"unknown rollout", krpMin, set("Recreate", "spec", "rollout"), `Unsupported value: "Recreate"`},
		{"no target", krpMin, del("spec", "targetRef"), "spec.targetRef: Required value"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := kube.Client.Create(context.Background(), build(t, ns, c.base, fmt.Sprintf("invalid-%d", i), c.mutate))
			if err == nil {
				t.Fatalf("accepted; want rejection with %q", c.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid (422) error, got %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("message\n  %s\ndoes not contain\n  %s", err, c.want)
			}
		})
	}
}

func TestWellFormedButUnknownTimeZonePassesAdmission(t *testing.T) {
	// The schema checks the shape of the name only; the controller reports a zone missing from
	// the time-zone database as Ready=False (UnknownTimeZone).
	createSample(t, krpFull, set("Mars/Olympus_Mons", "spec", "schedule", "timeZone"))
}

func TestTargetRefCannotBeChanged(t *testing.T) {
	ctx := context.Background()
	u := createSample(t, krpMin)
	krp := &v1.KeyRotationPolicy{}
	must(kube.Client.Get(ctx, client.ObjectKeyFromObject(u), krp))
	krp.Spec.TargetRef.Name = "another-instance"
	err := kube.Client.Update(ctx, krp)
	if err == nil || !strings.Contains(err.Error(), "targetRef is immutable") {
		t.Fatalf("changing targetRef: got %v, want a rejection saying targetRef is immutable", err)
	}
	// Other fields stay editable.
	if err := kube.Client.Get(ctx, client.ObjectKeyFromObject(u), krp); err != nil {
		t.Fatal(err)
	}
	krp.Spec.Retain = 7
	if err := kube.Client.Update(ctx, krp); err != nil {
		t.Fatalf("changing retain: %v", err)
	}
}

func TestKubectlGetShowsPrinterColumns(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	for _, f := range []string{siMin, krpMin} {
		u := sample(t, f)
		u.SetNamespace(ns)
		if err := kube.Client.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	next := metav1.NewTime(now.Add(720 * time.Hour))

	si := &v1.SchedulerInstance{}
	must(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "minimal"}, si))
	si.Status = v1.SchedulerInstanceStatus{
		ObservedGeneration: si.Generation, Replicas: 2, ReadyReplicas: 2, ReplicaSummary: "2/2", KeyVersion: 4,
		Endpoint: "https://minimal." + ns + ".svc:8080",
		TLS:      &v1.TLSStatus{Mode: v1.TLSOperatorManaged, NotAfter: &next},
		Conditions: []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonAvailable,
			Message: "All replicas are ready.", LastTransitionTime: now, ObservedGeneration: si.Generation}},
	}
	if err := kube.Client.Status().Update(ctx, si); err != nil {
		t.Fatal(err)
	}
	krp := &v1.KeyRotationPolicy{}
	must(kube.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "minimal-keys"}, krp))
	krp.Status = v1.KeyRotationPolicyStatus{
		ObservedGeneration: krp.Generation, CurrentVersion: 4, LastRotationTime: &now, NextRotationTime: &next,
		Conditions: []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonScheduled,
			Message: "Keys are current.", LastTransitionTime: now, ObservedGeneration: krp.Generation}},
	}
	if err := kube.Client.Status().Update(ctx, krp); err != nil {
		t.Fatal(err)
	}

	out, err := kube.Kubectl("get", "si,krp", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kubectl get si,krp:\n%s", out)
	for _, re := range []string{
		`(?m)^NAME\s+READY\s+REPLICAS\s+KEY VERSION\s+ENDPOINT\s+CERT EXPIRES\s+AGE$`,
		// CERT EXPIRES is a timestamp, like NEXT ROTATION below.
		`(?m)^schedulerinstance\.scheduling\.rsched\.io/minimal\s+True\s+2/2\s+4\s+https://minimal\.` + ns + `\.svc:8080\s+` + regexp.QuoteMeta(next.UTC().Format(time.RFC3339)) + `\s+\d+s$`,
		`(?m)^NAME\s+TARGET\s+VERSION\s+LAST ROTATION\s+NEXT ROTATION\s+READY\s+AGE$`,
		// NEXT ROTATION is a timestamp: an age column would show a future time as "<invalid>".
		`(?m)^keyrotationpolicy\.scheduling\.rsched\.io/minimal-keys\s+minimal\s+4\s+\d+s\s+` + regexp.QuoteMeta(next.UTC().Format(time.RFC3339)) + `\s+True\s+\d+s$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("kubectl get output does not match %s", re)
		}
	}

	// The category and short names work too.
	out, err = kube.Kubectl("get", "rsched", "-n", ns, "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "schedulerinstance.scheduling.rsched.io/minimal") || !strings.Contains(out, "keyrotationpolicy.scheduling.rsched.io/minimal-keys") {
		t.Errorf("kubectl get rsched (category) listed:\n%s", out)
	}
}

func TestKubectlExplainDocumentsFields(t *testing.T) {
	for field, want := range map[string]string{
		"si.spec.auth.accessTokenTTL":                        `Defaults to "15m"; 1m to 1h`,
		"si.spec.replicas":                                   "Defaults to 2; 1 to 50",
		"si.spec.network.policy":                             "Enforce (the default)",
		"si.spec.database.tls.caVault":                       "Secret <instance>-database-tls (key ca.crt)",
		"si.spec.database.tls.clientCertVault.privateKeyKey": `Defaults to "tls.key"`,
		"krp.spec.schedule.cron":                             "5-field cron expression",
		"krp.spec.gracePeriod":                               `Defaults to "24h"`,
		"krp.status.keys.versions.state":                     "active, verify-only, decrypt-only or retired",
	} {
		out, err := kube.Kubectl("explain", field)
		if err != nil {
			t.Errorf("kubectl explain %s: %v", field, err)
			continue
		}
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("kubectl explain %s does not say %q:\n%s", field, want, out)
		}
	}
}

// Each limit is inclusive where the docs say so: an over-strict rule would fail here.
func TestBoundaryValuesAreAccepted(t *testing.T) {
	ns := namespace(t)
	cases := []struct {
		name   string
		base   string
		mutate mutation
	}{
		{"1 replica", siMin, set(int64(1), "spec", "replicas")},
		{"50 replicas", siMin, set(int64(50), "spec", "replicas")},
		{"access TTL of 1m", siMin, set("1m", "spec", "auth", "accessTokenTTL")},
		{"access TTL of 1h with refresh 1h1m", siMin, all(set("1h", "spec", "auth", "accessTokenTTL"), set("1h1m", "spec", "auth", "refreshTokenTTL"))},
		{"fractional duration", siMin, set("1.5h", "spec", "auth", "refreshTokenTTL")},
		{"password expiry off", siMin, set("0s", "spec", "auth", "passwordPolicy", "maxAge")},
		{"password history off", siMin, set(int64(0), "spec", "auth", "passwordPolicy", "historySize")},
		{"minimum password length 8", siMin, set(int64(8), "spec", "auth", "passwordPolicy", "minLength")},
		{"MFA for nobody", siMin, set(list(), "spec", "auth", "mfaRequiredRoles")},
		{"lockout of 24h", siMin, set("24h", "spec", "auth", "lockout", "duration")},
		{"rate-limit period 1s", siMin, set(obj("requests", int64(1), "period", "1s"), "spec", "rateLimit", "api")},
		{"IPv6 and host CIDRs", siMin, set(list("fd00::/8", "192.0.2.7/32"), "spec", "rateLimit", "trustedProxies")},
		{"origin with a port", siMin, set(list("http://localhost:3000", "https://a.example.org"), "spec", "security", "allowedOrigins")},
		{"vault over http when allowed", siFull, all(set("http://127.0.0.1:8200", "spec", "vault", "address"), set(true, "spec", "vault", "insecureAllowHTTP"))},
		{"appRole auth", siFull, set(obj("appRole", obj("roleID", "r-123", "secretIDSecretRef", obj("name", "approle", "key", "secret-id"))), "spec", "vault", "auth")},
		{"token auth", siFull, set(obj("tokenSecretRef", obj("name", "vault-token", "key", "token")), "spec", "vault", "auth")},
		{"network policy disabled", siMin, set("Disabled", "spec", "network", "policy")},
		{"database CA and client certificate from Vault", siFull, all(set(obj("path", "rsched/db-tls", "key", "ca.crt"), "spec", "database", "tls", "caVault"), set(obj("mount", "kv", "path", "rsched/db-client", "certificateKey", "certificate", "privateKeyKey", "private_key"), "spec", "database", "tls", "clientCertVault"))},
		{"database CA from Vault, client certificate from a Secret, verify-ca", siFull, all(set("verify-ca", "spec", "database", "tls", "mode"), set(obj("path", "rsched/db-tls", "key", "ca.crt"), "spec", "database", "tls", "caVault"), set(obj("name", "pg-client"), "spec", "database", "tls", "clientCertSecretRef"))},
		{"database client certificate from Vault with require", siFull, all(set("require", "spec", "database", "tls", "mode"), set(true, "spec", "database", "tls", "insecureAllowUnverified"), set(obj("path", "rsched/db-client"), "spec", "database", "tls", "clientCertVault"))},
		{"egress rule with ports only", siFull, set(obj("ports", list(obj("port", int64(5432)))), "spec", "network", "egressTo", "database")},
		{"LoadBalancer on port 1", siMin, all(set("LoadBalancer", "spec", "service", "type"), set(int64(1), "spec", "service", "port"))},
		{"one key of each purpose", krpMin, set(list(key("sign", "Signing", "EdDSA"), key("seal", "Encryption", "AES256GCM")), "spec", "keys")},
		{"an encryption key only", krpMin, set(list(key("fields", "Encryption", "AES256GCM")), "spec", "keys")},
		{"every 1m", krpMin, set("1m", "spec", "schedule", "every")},
		{"cron with ranges, steps, lists and names", krpFull, set("*/15 0-6,22-23 1-31/2 JAN-MAR,dec MON-FRI", "spec", "schedule", "cron")},
		{"UTC", krpFull, set("UTC", "spec", "schedule", "timeZone")},
		{"Etc/GMT+5", krpFull, set("Etc/GMT+5", "spec", "schedule", "timeZone")},
		{"America/Argentina/Buenos_Aires", krpFull, set("America/Argentina/Buenos_Aires", "spec", "schedule", "timeZone")},
		{"grace period 1m", krpMin, set("1m", "spec", "gracePeriod")},
		{"grace period 2160h", krpMin, set("2160h", "spec", "gracePeriod")},
		{"retain 1", krpMin, set(int64(1), "spec", "retain")},
		{"retain 20", krpMin, set(int64(20), "spec", "retain")},
		{"suspended, rolling restart", krpMin, all(set(true, "spec", "suspend"), set("RollingRestart", "spec", "rollout"))},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := kube.Client.Create(context.Background(), build(t, ns, c.base, fmt.Sprintf("valid-%d", i), c.mutate)); err != nil {
				t.Errorf("rejected: %v", err)
			}
		})
	}
}

func TestKeyPurposeCannotChangeButAlgorithmCan(t *testing.T) {
	ctx := context.Background()
	u := createSample(t, krpFull)
	krp := &v1.KeyRotationPolicy{}
	must(kube.Client.Get(ctx, client.ObjectKeyFromObject(u), krp))
	krp.Spec.Keys[0].Purpose, krp.Spec.Keys[0].Algorithm = v1.KeyPurposeEncryption, v1.AlgorithmAES256GCM
	if err := kube.Client.Update(ctx, krp); err == nil || !strings.Contains(err.Error(), "the purpose of a key cannot change") {
		t.Fatalf("changing a key's purpose: %v, want a rejection", err)
	}
	must(kube.Client.Get(ctx, client.ObjectKeyFromObject(u), krp))
	krp.Spec.Keys[0].Algorithm = v1.AlgorithmHS512
	if err := kube.Client.Update(ctx, krp); err != nil {
		t.Fatalf("changing a signing key's algorithm to HS512: %v", err)
	}
}

// An explicit empty list turns MFA off. A Go client (the operator adding a finalizer, say) must
// not lose it: with omitempty the [] would vanish and the API server would default it to [admin].
func TestEmptyMFARolesSurviveATypedUpdate(t *testing.T) {
	ctx := context.Background()
	u := createSample(t, siMin, set(list(), "spec", "auth", "mfaRequiredRoles"))
	si := &v1.SchedulerInstance{}
	must(kube.Client.Get(ctx, client.ObjectKeyFromObject(u), si))
	si.Labels = map[string]string{"touched": "yes"}
	if err := kube.Client.Update(ctx, si); err != nil {
		t.Fatal(err)
	}
	got := &v1.SchedulerInstance{}
	must(kube.Client.Get(ctx, client.ObjectKeyFromObject(u), got))
	if got.Spec.Auth.MFARequiredRoles == nil || len(got.Spec.Auth.MFARequiredRoles) != 0 {
		t.Errorf("mfaRequiredRoles after a typed update = %v, want []", got.Spec.Auth.MFARequiredRoles)
	}
}
