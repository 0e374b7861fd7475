package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/rbac"
)

// tokenResponse is the body of a completed sign-in or refresh (the predecessor's shape plus
// expires_in and, at sign-in, the CSRF token for cookie clients).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	CSRFToken    string `json:"csrf_token,omitempty"`
}

type mfaChallengeResponse struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// loginForm is the OAuth2 password form of the predecessor (username, password).
func (s *server) loginForm(w http.ResponseWriter, r *http.Request) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return errStatus(http.StatusUnsupportedMediaType, "Content-Type must be application/x-www-form-urlencoded (or use /api/v1/auth/login/json)")
	}
	if err := decodeForm(r); err != nil {
		return err
	}
	return s.login(w, r, r.PostForm.Get("username"), r.PostForm.Get("password"))
}

func (s *server) loginJSON(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	return s.login(w, r, req.Username, req.Password)
}

func (s *server) login(w http.ResponseWriter, r *http.Request, username, password string) error {
	username = strings.TrimSpace(username)
	if len(username) < 3 || len(username) > 50 || password == "" {
		return errStatus(http.StatusUnprocessableEntity, "username (3 to 50 characters) and password are required")
	}
	// Per account name as well as per address: a distributed guess at one account meets the
	// limit too. Twice the address limit, so one user's typos do not trip it before lockout does.
	perAccount := s.Limits.Login
	perAccount.Requests *= 2
	if err := s.limitWith(w, r, "login", "account:"+strings.ToLower(username), perAccount, false); err != nil {
		return err
	}
	res, err := s.Accounts.Login(r.Context(), username, password, s.client(r))
	if err != nil {
		return err
	}
	if res.Session == nil {
		writeJSON(w, http.StatusOK, mfaChallengeResponse{MFARequired: true, MFAToken: res.MFAToken, ExpiresIn: int(res.MFAExpiresIn.Seconds())})
		return nil
	}
	s.issued(w, res.Session)
	return nil
}

// issued answers with a new session's tokens and cookies.
func (s *server) issued(w http.ResponseWriter, sess *accounts.Session) {
	s.setSessionCookies(w, sess.AccessToken, sess.CSRFToken)
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: sess.AccessToken, RefreshToken: sess.RefreshToken, TokenType: "bearer",
		ExpiresIn: int(s.AccessTTL.Seconds()), CSRFToken: sess.CSRFToken})
}

func (s *server) mfaVerify(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		MFAToken     string `json:"mfa_token"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.MFAToken == "" || len(req.MFAToken) > 128 || (req.Code == "") == (req.RecoveryCode == "") || len(req.Code) > 16 || len(req.RecoveryCode) > 32 {
		return errStatus(http.StatusUnprocessableEntity, "mfa_token and exactly one of code or recovery_code are required")
	}
	sess, err := s.Accounts.VerifyMFA(r.Context(), req.MFAToken, req.Code, req.RecoveryCode, s.client(r))
	if err != nil {
		return err
	}
	s.issued(w, sess)
	return nil
}

func (s *server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return errStatus(http.StatusUnprocessableEntity, "refresh_token is required")
	}
	sess, err := s.Accounts.Refresh(r.Context(), req.RefreshToken, s.client(r))
	if err != nil {
		return err
	}
	s.issued(w, sess)
	return nil
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.Accounts.Logout(r.Context(), principal(r), s.client(r)); err != nil {
		return err
	}
	clearSessionCookies(w)
	writeJSON(w, http.StatusOK, map[string]string{"message": "Successfully logged out"})
	return nil
}

// meResponse is the predecessor's /auth/me shape plus what a client needs to guide the user.
type meResponse struct {
	ID                 string    `json:"id"`
	Username           string    `json:"username"`
	Email              string    `json:"email"`
	Role               rbac.Role `json:"role"`
	IsActive           bool      `json:"is_active"`
	MFAEnabled         bool      `json:"mfa_enabled"`
	Restriction        string    `json:"restriction,omitempty"`
	PasswordChangedAt  time.Time `json:"password_changed_at"`
	MustChangePassword bool      `json:"must_change_password"`
}

func (s *server) me(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	writeJSON(w, http.StatusOK, meResponse{ID: p.ID, Username: p.Username, Email: p.Email, Role: p.Role, IsActive: p.IsActive,
		MFAEnabled: p.MFAEnabled, Restriction: string(p.Restriction), PasswordChangedAt: p.PasswordChangedAt, MustChangePassword: p.MustChangePassword})
	return nil
}

// newUserBody is the body of POST /auth/register and POST /admin/users.
type newUserBody struct {
	Username string    `json:"username"`
	Email    string    `json:"email"`
	Password string    `json:"password"`
	Role     rbac.Role `json:"role"`
}

func (b newUserBody) user() accounts.NewUser {
	return accounts.NewUser{Username: b.Username, Email: b.Email, Password: b.Password, Role: b.Role}
}

func (s *server) register(w http.ResponseWriter, r *http.Request) error {
	var req newUserBody
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Email == "" || req.Password == "" {
		return errStatus(http.StatusUnprocessableEntity, "username, email and password are required")
	}
	// Registration needs no credentials only for the very first user; credentials that are sent
	// must be valid.
	var caller *accounts.Principal
	if r.Header.Get("Authorization") != "" || hasCookie(r, accessCookie) {
		p, viaCookie, err := s.authenticate(r)
		if err != nil {
			return s.authError(r, err)
		}
		if viaCookie && !p.CheckCSRF(r.Header.Get("X-CSRF-Token")) {
			return errStatus(http.StatusForbidden, "missing or invalid CSRF token: send the csrf_token from sign-in in the X-CSRF-Token header")
		}
		if p.Restriction != accounts.NoRestriction {
			return errStatus(http.StatusForbidden, restrictionDetail(p.Restriction))
		}
		caller = p
	}
	u, _, err := s.Accounts.Register(r.Context(), caller, req.user(), s.client(r))
	if err != nil {
		if errors.Is(err, accounts.ErrAdminRequired) && caller != nil {
			s.record(r, caller.ID, "authz.denied", "route:POST /api/v1/auth/register", map[string]any{"role": caller.Role})
		}
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func hasCookie(r *http.Request, name string) bool {
	c, err := r.Cookie(name)
	return err == nil && c.Value != ""
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.CurrentPassword == "" || req.NewPassword == "" {
		return errStatus(http.StatusUnprocessableEntity, "current_password and new_password are required")
	}
	p := principal(r)
	perAccount := s.Limits.Login
	perAccount.Requests *= 2
	if err := s.limitWith(w, r, "login", "account:"+strings.ToLower(p.Username), perAccount, false); err != nil {
		return err
	}
	if err := s.Accounts.ChangePassword(r.Context(), p, req.CurrentPassword, req.NewPassword, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listSessions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Accounts.Sessions(r.Context(), principal(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list, "total": len(list)})
	return nil
}

func (s *server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.Accounts.RevokeSession(r.Context(), principal(r), r.PathValue("id"), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) mfaEnroll(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	e, err := s.Accounts.BeginMFAEnrolment(r.Context(), principal(r), req.Password, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *server) mfaConfirm(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	codes, err := s.Accounts.ConfirmMFAEnrolment(r.Context(), principal(r), req.Code, s.client(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"mfa_enabled": true, "recovery_codes": codes})
	return nil
}

func (s *server) mfaDisable(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Password     string `json:"password"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.Accounts.DisableMFA(r.Context(), principal(r), req.Password, req.Code, req.RecoveryCode, s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
