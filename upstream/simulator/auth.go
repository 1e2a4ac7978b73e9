package simulator

import (
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Messages of Kore.ai's 401 answers (SPEC §1.1); all carry code 4002.
const (
	msgBadCredentials = "Invalid SDK credentials"
	msgNotAJWT        = "Invalid JWT token"
	msgScope          = "Permission denied. Scope is incorrect!"
	codeAuth          = 4002
)

// maxJTIAge is how far in the future an app enforcing JTI accepts a token's exp.
const maxJTIAge = time.Hour

// authenticate checks the auth header of r and returns the account of the app that signed it,
// or the 401 Kore.ai would answer. It records the claims of every token whose signature it
// verified, before the JTI and scope checks, so a test can see what a refused client sent.
func (s *Simulator) authenticate(r *http.Request, need Scope) (*account, *apiError) {
	raw := r.Header.Get("auth")
	if raw == "" {
		return nil, unauthorized(msgBadCredentials)
	}
	// The key depends on the app the token names, so read appId before verifying anything.
	unverified, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenMalformed) {
			return nil, unauthorized(msgNotAJWT)
		}
		return nil, unauthorized(msgBadCredentials)
	}
	appID, _ := unverified.Claims.(jwt.MapClaims)["appId"].(string)
	a, ok := s.accounts[appID]
	if !ok {
		return nil, unauthorized(msgBadCredentials)
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(s.now))
	tok, err := parser.Parse(raw, func(*jwt.Token) (any, error) { return []byte(a.cfg.ClientSecret), nil })
	if err != nil || !tok.Valid {
		return nil, unauthorized(msgBadCredentials)
	}
	claims := tok.Claims.(jwt.MapClaims)
	s.recordClaims(a, claims)
	if a.cfg.EnforceJTI && !s.freshJTI(a, claims) {
		return nil, unauthorized(msgBadCredentials)
	}
	if a.scopes != nil && !a.scopes[need] {
		return nil, unauthorized(msgScope)
	}
	return a, nil
}

func (s *Simulator) recordClaims(a *account, claims jwt.MapClaims) {
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		c[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastClaims[a.cfg.ClientID] = c
}

// freshJTI applies an app's "enforce JTI" setting: the token needs a jti never seen before and an
// exp at most an hour away. A jti is remembered until its token expires, since an expired token
// is refused anyway.
func (s *Simulator) freshJTI(a *account, claims jwt.MapClaims) bool {
	jti, _ := claims["jti"].(string)
	exp, err := claims.GetExpirationTime()
	now := s.now()
	if jti == "" || err != nil || exp == nil || exp.After(now.Add(maxJTIAge)) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := a.seenJTI[jti]; seen {
		return false
	}
	// Prune when the set has doubled since the last prune: amortised O(1) per token even for a
	// client minting one per request.
	if len(a.seenJTI) >= a.jtiPruneAt {
		for k, e := range a.seenJTI {
			if e.Before(now) {
				delete(a.seenJTI, k)
			}
		}
		a.jtiPruneAt = max(1024, 2*len(a.seenJTI))
	}
	a.seenJTI[jti] = exp.Time
	return true
}

// scopeOf is the admin API scope a route needs.
func scopeOf(k routeKind) Scope {
	switch k {
	case routePublish:
		return ScopePublish
	case routeBots:
		return ScopeBotList
	}
	return ScopePublishStatus
}
