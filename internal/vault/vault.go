package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Method is how the operator logs in.
type Method string

// Login methods.
const (
	Kubernetes Method = "kubernetes"
	AppRole    Method = "approle"
	Token      Method = "token"
)

// Identity is everything that decides which Vault token a client holds. Two instances with the
// same Identity share one client (and one token).
type Identity struct {
	Address   string
	Namespace string
	// CACert is a PEM bundle to verify Vault's certificate; empty uses the system roots.
	CACert []byte
	Method Method
	// MountPath of the auth method (default "kubernetes" or "approle").
	MountPath string
	// Role is the Kubernetes auth role; RoleID and SecretID the AppRole credentials; Token the
	// token for the token method.
	Role, RoleID, SecretID, Token string
	// ServiceAccount ("namespace/name") and Audiences are used for the Kubernetes method's
	// TokenRequest.
	ServiceAccount string
	Audiences      []string
}

// key identifies the identity without keeping its secrets in clear.
func (id Identity) key() string {
	h := sha256.New()
	for _, s := range []string{id.Address, id.Namespace, string(id.CACert), string(id.Method), id.MountPath, id.Role, id.RoleID,
		id.SecretID, id.Token, id.ServiceAccount, strings.Join(id.Audiences, ",")} {
		fmt.Fprintf(h, "%d:%s|", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TokenSource issues a short-lived, audience-bound ServiceAccount token (TokenRequest API).
type TokenSource func(ctx context.Context, serviceAccount string, audiences []string) (string, error)

// Error kinds. Their messages are written for status conditions: no Vault response text.
var (
	ErrUnreachable = errors.New("vault is unreachable")
	ErrAuth        = errors.New("vault refused the login")
	ErrForbidden   = errors.New("vault denied access to the secret")
	ErrNotFound    = errors.New("the secret does not exist in vault")
	ErrKeyMissing  = errors.New("the secret has no such key")
	ErrInvalid     = errors.New("vault returned an unexpected answer")
	// ErrConflict is a check-and-set write that lost: the secret's current version is not the one
	// the caller named. Nothing was written; re-read and decide again.
	ErrConflict = errors.New("the secret changed in vault since it was read")
	// ErrTokenForbidden is a TokenSource's answer when the Kubernetes API server refused the
	// operator a token for the ServiceAccount: its RBAC lacks serviceaccounts/token, which is
	// opt-in, or an admission policy limits it. A login that needs the token fails with ErrAuth
	// wrapping it.
	ErrTokenForbidden = errors.New("the operator may not request a token for the instance's ServiceAccount")
)

// Factory hands out one cached client per identity.
type Factory struct {
	tokens TokenSource
	now    func() time.Time

	mu      sync.Mutex
	clients map[string]*Client

	requests *prometheus.CounterVec
}

// NewFactory returns a Factory; tokens is needed for the Kubernetes method only. reg may be nil.
func NewFactory(tokens TokenSource, reg prometheus.Registerer) *Factory {
	f := &Factory{tokens: tokens, now: time.Now, clients: map[string]*Client{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rsched_vault_requests_total", Help: "Requests of the operator to Vault, by operation and result.",
		}, []string{"operation", "result"})}
	// Every series exists from the start at 0, so that increase() sees the first failure (a
	// series born at 1 has no earlier sample to increase from).
	for _, op := range []string{"login", "renew", "read", "write"} {
		for _, result := range []string{"success", "unreachable", "denied", "not_found", "conflict", "error"} {
			f.requests.WithLabelValues(op, result)
		}
	}
	if reg != nil {
		reg.MustRegister(f.requests)
	}
	return f
}

// Client is a logged-in Vault client for one identity.
type Client struct {
	f  *Factory
	id Identity

	mu       sync.Mutex
	api      *vaultapi.Client
	expires  time.Time // zero: the token does not expire
	loggedIn bool
}

// For returns the cached client of id, creating it on first use. It does not log in yet.
func (f *Factory) For(id Identity) (*Client, error) {
	if id.Address == "" {
		return nil, fmt.Errorf("%w: no address", ErrInvalid)
	}
	k := id.key()
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[k]; ok {
		return c, nil
	}
	cfg := vaultapi.DefaultConfig()
	cfg.Address = id.Address
	cfg.Timeout = 10 * time.Second
	cfg.MaxRetries = 0 // the reconciler retries with backoff; a stuck request must not hold it
	if len(id.CACert) > 0 {
		if err := cfg.ConfigureTLS(&vaultapi.TLSConfig{CACertBytes: id.CACert}); err != nil {
			return nil, fmt.Errorf("%w: the CA bundle cannot be used", ErrInvalid)
		}
	}
	api, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, "client configuration")
	}
	api.ClearToken() // never pick up a VAULT_TOKEN from the operator's environment
	if id.Namespace != "" {
		api.SetNamespace(id.Namespace)
	}
	c := &Client{f: f, id: id, api: api}
	f.clients[k] = c
	return c, nil
}

// Forget drops every cached client (for tests and on shutdown).
func (f *Factory) Forget() {
	f.mu.Lock()
	f.clients = map[string]*Client{}
	f.mu.Unlock()
}

func (f *Factory) count(op string, err error) {
	result := "success"
	switch {
	case err == nil:
	case errors.Is(err, ErrUnreachable):
		result = "unreachable"
	case errors.Is(err, ErrAuth), errors.Is(err, ErrForbidden):
		result = "denied"
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrKeyMissing):
		result = "not_found"
	case errors.Is(err, ErrConflict):
		result = "conflict"
	default:
		result = "error"
	}
	f.requests.WithLabelValues(op, result).Inc()
}

// ensureToken logs in when there is no token or it is within a third of its life of expiring.
func (c *Client) ensureToken(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggedIn && (c.expires.IsZero() || c.f.now().Before(c.expires)) {
		return nil
	}
	if c.loggedIn && c.id.Method == Token {
		// A given token cannot be obtained again: renew it (when its policy allows).
		secret, err := c.api.Auth().Token().RenewSelfWithContext(ctx, 0)
		c.f.count("renew", classify(err))
		if err == nil && secret != nil && secret.Auth != nil {
			c.expires = time.Time{}
			if d := time.Duration(secret.Auth.LeaseDuration) * time.Second; d > 0 {
				c.expires = c.f.now().Add(d * 2 / 3)
			}
			return nil
		}
	}
	return c.login(ctx)
}

// login obtains a token; c.mu is held.
func (c *Client) login(ctx context.Context) error {
	var path string
	var body map[string]any
	switch c.id.Method {
	case Token:
		if c.id.Token == "" {
			return fmt.Errorf("%w: empty token", ErrAuth)
		}
		c.api.SetToken(c.id.Token)
		secret, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
		c.f.count("login", classify(err))
		if err != nil {
			c.api.ClearToken()
			return classify(err)
		}
		c.loggedIn, c.expires = true, time.Time{}
		if ttl, err := secret.TokenTTL(); err == nil && ttl > 0 {
			c.expires = c.f.now().Add(ttl * 2 / 3)
		}
		return nil
	case AppRole:
		path = "auth/" + orDefault(c.id.MountPath, "approle") + "/login"
		body = map[string]any{"role_id": c.id.RoleID, "secret_id": c.id.SecretID}
	case Kubernetes:
		if c.f.tokens == nil {
			return fmt.Errorf("%w: no ServiceAccount token source", ErrInvalid)
		}
		jwt, err := c.f.tokens(ctx, c.id.ServiceAccount, c.id.Audiences)
		if errors.Is(err, ErrTokenForbidden) {
			c.f.count("login", ErrAuth)
			return fmt.Errorf("%w: %w", ErrAuth, ErrTokenForbidden)
		}
		if err != nil {
			c.f.count("login", ErrAuth)
			return fmt.Errorf("%w: the ServiceAccount token could not be requested", ErrAuth)
		}
		path = "auth/" + orDefault(c.id.MountPath, "kubernetes") + "/login"
		body = map[string]any{"role": c.id.Role, "jwt": jwt}
	default:
		return fmt.Errorf("%w: unknown login method", ErrInvalid)
	}
	c.api.ClearToken()
	secret, err := c.api.Logical().WriteWithContext(ctx, path, body)
	c.f.count("login", classify(err))
	if err != nil {
		if errors.Is(classify(err), ErrForbidden) {
			return ErrAuth
		}
		return classify(err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return fmt.Errorf("%w: login answered without a token", ErrAuth)
	}
	c.api.SetToken(secret.Auth.ClientToken)
	c.loggedIn, c.expires = true, time.Time{}
	if d := time.Duration(secret.Auth.LeaseDuration) * time.Second; d > 0 {
		// Log in again when two thirds of the token's life are gone: simpler than renewing,
		// and it also picks up a changed role or policy.
		c.expires = c.f.now().Add(d * 2 / 3)
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return strings.Trim(s, "/")
}

// KV is one KV v2 secret: its data and version.
type KV struct {
	Data    map[string]string
	Version int
}

// errDeleted is what Vault's KV v2 answers for a secret whose latest version is deleted or
// destroyed: a 404 that still carries that version's metadata, which the api client hands back as
// a secret without data.
var errDeleted = fmt.Errorf("%w: its latest version is deleted or destroyed", ErrNotFound)

// ReadKV reads the latest version of mount/path from a KV v2 engine. A 403 with a cached token logs
// in again once.
//
// When the secret does not exist, or its latest version is deleted or destroyed, the error is
// ErrNotFound and the KV is still returned, without Data: its Version is the secret's current
// version, the cas a WriteKV must name to write the next one (0 when there is nothing to follow).
func (c *Client) ReadKV(ctx context.Context, mount, path string) (*KV, error) {
	mount = orDefault(mount, "secret")
	var s *vaultapi.KVSecret
	err := c.withRelogin(ctx, "read", func() error {
		var err error
		s, err = c.api.KVv2(mount).Get(ctx, strings.Trim(path, "/"))
		switch {
		case err != nil:
			s = nil
			return classify(err)
		case s.Data == nil || (s.VersionMetadata != nil && s.VersionMetadata.Destroyed):
			return errDeleted
		}
		return nil
	})
	out := &KV{}
	if s != nil && s.VersionMetadata != nil {
		out.Version = s.VersionMetadata.Version
	}
	if errors.Is(err, ErrNotFound) {
		return out, err
	}
	if err != nil {
		return nil, err
	}
	out.Data = make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: a value of the secret is not a string", ErrInvalid)
		}
		out.Data[k] = str
	}
	return out, nil
}

// WriteKV writes data as a new version of mount/path in a KV v2 engine and returns that version.
// The write is check-and-set: cas is the version the caller last read (ReadKV's Version, also when
// ReadKV said ErrNotFound), 0 for a secret that must not exist yet. Earlier versions stay in
// Vault's history.
//
// ErrConflict: the current version is not cas, nothing was written. ErrForbidden: the token's
// policy does not allow the write (it needs "create" for the first version, "update" after), also
// after logging in again once. ErrNotFound: no engine at mount. ErrInvalid: Vault refused the
// request as malformed, or answered without a version (a KV version 1 mount takes the write and
// answers so). ErrUnreachable does not say the write did not happen: the answer may have been lost
// on the way back; re-read before writing again (a retry with the same cas is safe: it conflicts if
// the first one landed).
func (c *Client) WriteKV(ctx context.Context, mount, path string, data map[string]string, cas int) (int, error) {
	path = strings.Trim(path, "/")
	if path == "" || cas < 0 {
		return 0, fmt.Errorf("%w: a write needs a path and a check-and-set version of 0 or more", ErrInvalid)
	}
	mount = orDefault(mount, "secret")
	body := make(map[string]any, len(data))
	for k, v := range data {
		body[k] = v
	}
	var version int
	err := c.withRelogin(ctx, "write", func() error {
		// A 403 means Vault did not apply the write, so withRelogin may send it again as is.
		s, err := c.api.KVv2(mount).Put(ctx, path, body, vaultapi.WithCheckAndSet(cas))
		if err != nil {
			return classifyWrite(err)
		}
		if s == nil || s.VersionMetadata == nil || s.VersionMetadata.Version < 1 {
			return errNoVersion
		}
		version = s.VersionMetadata.Version
		return nil
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// withRelogin runs one request with a valid token and counts its classified result as op; when
// Vault answers 403 it logs in again and runs the request once more, since a cached token can be
// revoked or expire early behind the client's back.
func (c *Client) withRelogin(ctx context.Context, op string, request func() error) error {
	for attempt := 0; ; attempt++ {
		if err := c.ensureToken(ctx); err != nil {
			return err
		}
		err := request()
		c.f.count(op, err)
		if errors.Is(err, ErrForbidden) && attempt == 0 {
			c.mu.Lock()
			c.loggedIn = false
			c.mu.Unlock()
			continue
		}
		return err
	}
}

// ReadKVKey reads one key of a KV v2 secret.
func (c *Client) ReadKVKey(ctx context.Context, mount, path, key string) (string, int, error) {
	kv, err := c.ReadKV(ctx, mount, path)
	if err != nil {
		return "", 0, err
	}
	v, ok := kv.Data[key]
	if !ok {
		return "", 0, ErrKeyMissing
	}
	return v, kv.Version, nil
}

var errNoVersion = fmt.Errorf("%w: the write was answered without a version (is the mount KV version 2?)", ErrInvalid)

// classifyWrite is classify for a KV v2 write, where a 400 is not a refused login but either a lost
// check-and-set or a malformed request, and an answer that cannot be read is not a network failure
// (Vault may well have applied the write).
func classifyWrite(err error) error {
	var re *vaultapi.ResponseError
	var netErr net.Error
	switch {
	case errors.As(err, &re) && re.StatusCode == http.StatusBadRequest:
		if casMismatch(re) {
			return ErrConflict
		}
		return fmt.Errorf("%w: vault refused the write as malformed", ErrInvalid)
	case errors.As(err, &re):
		return classify(err)
	case errors.Is(err, vaultapi.ErrSecretNotFound):
		// The api client's word for a 2xx without a body: a KV version 1 mount answers so.
		return errNoVersion
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ErrUnreachable
	}
	return fmt.Errorf("%w: the answer to the write could not be read", ErrInvalid)
}

// casMismatch tells a lost check-and-set from the other 400s of a KV v2 write. Vault has no error
// code for it, only the text "check-and-set parameter did not match the current version" (the
// other check-and-set 400s, "required" and "error parsing", cannot happen: WriteKV always sends an
// integer). The text is only matched, never passed on; TestWriteKVWithAStaleVersionConflicts
// pins it against the real server.
func casMismatch(re *vaultapi.ResponseError) bool {
	for _, e := range re.Errors {
		e = strings.ToLower(e)
		if strings.Contains(e, "check-and-set") && strings.Contains(e, "did not match") {
			return true
		}
	}
	return false
}

// classify turns a Vault client error into one of the package's errors, dropping Vault's text.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, vaultapi.ErrSecretNotFound) {
		return ErrNotFound
	}
	var re *vaultapi.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			return ErrNotFound
		case http.StatusForbidden:
			return ErrForbidden
		case http.StatusBadRequest, http.StatusUnauthorized:
			return ErrAuth
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			return ErrUnreachable // sealed, standby without forwarding, overloaded
		}
		return fmt.Errorf("%w: status %d", ErrInvalid, re.StatusCode)
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "connection refused") {
		return ErrUnreachable
	}
	return ErrUnreachable
}
