package apiload

import (
	"context"
	"encoding/base32"
	"fmt"
	"net/http"
	"time"

	"github.com/rsched/rsched/internal/server/auth"
)

// Bootstrap registers the first user of an empty instance (who becomes its administrator),
// signs in, and enrols MFA when the instance requires it for administrators, so that the token
// it keeps may use every route. It returns the TOTP secret's raw bytes (nil without MFA), which
// the caller keeps to sign in again; the password and secret never leave the caller.
func (l *Client) Bootstrap(ctx context.Context, username, email, password string) ([]byte, error) {
	if _, err := l.Call(ctx, "POST", "/api/v1/auth/register", map[string]any{"username": username, "email": email, "password": password}, nil, http.StatusCreated); err != nil {
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := l.Call(ctx, "POST", "/api/v1/auth/login/json", map[string]any{"username": username, "password": password}, &tok, http.StatusOK); err != nil {
		return nil, err
	}
	l.Token = tok.AccessToken
	var me struct {
		Restriction string `json:"restriction"`
	}
	if _, err := l.Call(ctx, "GET", "/api/v1/auth/me", nil, &me, http.StatusOK); err != nil {
		return nil, err
	}
	if me.Restriction != "mfa_enrolment_required" {
		return nil, nil
	}
	var en struct {
		Secret string `json:"secret"`
	}
	if _, err := l.Call(ctx, "POST", "/api/v1/auth/mfa/enroll", map[string]any{"password": password}, &en, http.StatusOK); err != nil {
		return nil, err
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	if err != nil {
		return nil, fmt.Errorf("the MFA secret is not base32: %w", err)
	}
	code, err := auth.TOTPCode(secret, time.Now())
	if err != nil {
		return nil, err
	}
	if _, err := l.Call(ctx, "POST", "/api/v1/auth/mfa/confirm", map[string]any{"code": code}, nil, http.StatusOK); err != nil {
		return nil, err
	}
	return secret, nil
}
