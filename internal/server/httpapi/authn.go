package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/audit"
)

const (
	principalKey ctxKey = iota + 1
	clientIPKey
)

// Cookie names. access_token keeps the predecessor's name so its web client works unchanged.
const (
	accessCookie = "access_token"
	csrfCookie   = "csrf_token"
)

// principal is the authenticated caller (nil on public routes).
func principal(r *http.Request) *accounts.Principal {
	p, _ := r.Context().Value(principalKey).(*accounts.Principal)
	return p
}

// clientIP is the caller's address: the peer, or, when the peer is a trusted proxy, the nearest
// address in X-Forwarded-For that is not itself a trusted proxy. From anyone else the header is
// ignored, so a client cannot choose the address its limits are counted under.
func (s *server) clientIP(r *http.Request) netip.Addr {
	if ip, ok := r.Context().Value(clientIPKey).(netip.Addr); ok {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a malformed chain: trust nothing beyond the proxy
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

func (s *server) trusted(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client describes the caller for sessions and the audit trail; header values are cleaned so
// that no client can put invalid text into the database or the log.
func (s *server) client(r *http.Request) accounts.Client {
	return accounts.Client{IP: s.clientIP(r).String(), UserAgent: clean(r.UserAgent(), 256), RequestID: RequestID(r.Context())}
}

func clean(v string, n int) string {
	v = strings.ToValidUTF8(v, "")
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
	for len(v) > n {
		_, size := utf8.DecodeLastRuneInString(v)
		v = v[:len(v)-size]
	}
	return v
}

// errNoCredentials is a request that sent no token at all.
var errNoCredentials = errors.New("no credentials")

// authenticate finds the access token and checks it. The Authorization header comes first and,
// when present, decides alone: a stale or forged cookie can never override a valid header (the
// predecessor let it), and a bad header never falls back to a cookie.
func (s *server) authenticate(r *http.Request) (p *accounts.Principal, viaCookie bool, err error) {
	var token string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(value) == "" {
			return nil, false, accounts.ErrUnauthenticated
		}
		token = strings.TrimSpace(value)
	} else if c, err := r.Cookie(accessCookie); err == nil && c.Value != "" {
		token, viaCookie = strings.TrimPrefix(strings.Trim(c.Value, `"`), "Bearer "), true
	} else {
		return nil, false, errNoCredentials
	}
	p, err = s.Accounts.Authenticate(r.Context(), token)
	return p, viaCookie, err
}

// authError is the answer to a failed authentication: 401 without saying why (the reason goes
// to the log only), or, when the check itself failed, the error (a logged 500).
func (s *server) authError(r *http.Request, err error) error {
	if !errors.Is(err, accounts.ErrUnauthenticated) && !errors.Is(err, errNoCredentials) {
		return fmt.Errorf("authentication failed: %w", err)
	}
	s.Log.Debug("unauthenticated", "reason", err.Error(), "request_id", RequestID(r.Context()))
	return &apiError{status: http.StatusUnauthorized, detail: "Not authenticated", header: map[string]string{"WWW-Authenticate": `Bearer realm="rsched"`}}
}

// record writes an audit event from a handler.
func (s *server) record(r *http.Request, actor, action, target string, details map[string]any) {
	c := s.client(r)
	if actor == "" {
		actor = "anonymous"
	}
	if _, err := s.Audit.Append(r.Context(), audit.Event{Actor: actor, Action: action, Target: target, IP: c.IP,
		UserAgent: c.UserAgent, RequestID: c.RequestID, Details: details}); err != nil {
		s.Log.Error("audit append failed", "action", action, "error", err, "request_id", c.RequestID)
	}
}

// setSessionCookies sets the access token cookie (HttpOnly: scripts never see it) and the CSRF
// cookie (readable by the page's script, which echoes it in X-CSRF-Token). Both are Secure and
// SameSite=Strict and scoped to the API.
func (s *server) setSessionCookies(w http.ResponseWriter, access string, csrf string) {
	http.SetCookie(w, &http.Cookie{Name: accessCookie, Value: access, Path: "/api/", MaxAge: int(s.AccessTTL.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	if csrf != "" {
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: csrf, Path: "/api/", MaxAge: int(s.RefreshTTL.Seconds()),
			Secure: true, SameSite: http.SameSiteStrictMode})
	}
}

func clearSessionCookies(w http.ResponseWriter) {
	for _, name := range []string{accessCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/api/", MaxAge: -1, HttpOnly: name == accessCookie,
			Secure: true, SameSite: http.SameSiteStrictMode})
	}
}
