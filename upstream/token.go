package upstream

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Credentials authenticate the gateway to one Kore.ai account. Either
// ClientID and ClientSecret (an app of the Bot Admin Console whose scopes
// include "Bot Publish > Publish Status") or a static Token.
type Credentials struct {
	ClientID     string
	ClientSecret string
	// Token, when set, is sent as is and no token is minted.
	Token string
	// JTI mints a fresh token with a unique jti for every request, for apps
	// that enforce JTI.
	JTI bool
	// Subject is the sub claim; any caller identifier. Default "publishgate".
	Subject string
}

// tokenLifetime is how long a minted token is valid. Kore.ai requires at most
// one hour for JTI-enforcing apps; a short lifetime limits the damage of a
// leaked token.
const (
	tokenLifetime = 10 * time.Minute
	// tokenRenewBefore is how long before expiry a cached token is replaced,
	// so that clock skew and slow requests never present an expired token.
	tokenRenewBefore = time.Minute
)

// tokenSource mints and caches the auth JWT of one environment.
type tokenSource struct {
	creds Credentials
	now   func() time.Time

	mu      sync.Mutex
	cached  string
	expires time.Time
}

func newTokenSource(creds Credentials, now func() time.Time) (*tokenSource, error) {
	if creds.Token == "" && (creds.ClientID == "" || creds.ClientSecret == "") {
		return nil, errors.New("upstream credentials: need clientId and clientSecret, or token")
	}
	if creds.Subject == "" {
		creds.Subject = "publishgate"
	}
	return &tokenSource{creds: creds, now: now}, nil
}

// Token returns the JWT for the next request.
func (t *tokenSource) Token() (string, error) {
	if t.creds.Token != "" {
		return t.creds.Token, nil
	}
	now := t.now()
	if t.creds.JTI {
		return t.mint(now, true)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cached != "" && now.Before(t.expires.Add(-tokenRenewBefore)) {
		return t.cached, nil
	}
	tok, err := t.mint(now, false)
	if err != nil {
		return "", err
	}
	t.cached, t.expires = tok, now.Add(tokenLifetime)
	return tok, nil
}

func (t *tokenSource) mint(now time.Time, withJTI bool) (string, error) {
	claims := jwt.MapClaims{
		"appId": t.creds.ClientID,
		"sub":   t.creds.Subject,
		"iat":   now.Unix(),
		"exp":   now.Add(tokenLifetime).Unix(),
	}
	if withJTI {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("mint jti: %w", err)
		}
		claims["jti"] = hex.EncodeToString(b[:])
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(t.creds.ClientSecret))
	if err != nil {
		return "", fmt.Errorf("sign upstream token: %w", err)
	}
	return s, nil
}
