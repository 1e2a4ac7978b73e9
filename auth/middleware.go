package auth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// Middleware authenticates every request before next sees it. With a nil
// verifier the gateway is open: every request carries the Open caller. With
// one, a request without a valid bearer token is answered 401 with a
// GraphQL error UNAUTHENTICATED and a WWW-Authenticate challenge, and never
// reaches next. WebSocket connections authenticate on connection_init with
// the same Verifier (gateway/live.go).
func Middleware(v *Verifier, logger *slog.Logger, next http.Handler) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v == nil {
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), Open())))
			return
		}
		// An absent or empty header is ("", true), so that Verify reports
		// it as a missing token.
		raw, ok := "", true
		if h := r.Header.Get("Authorization"); h != "" {
			raw, ok = BearerToken(h)
		}
		var (
			caller *Caller
			err    error
		)
		if !ok {
			err = errors.New("unauthenticated: the Authorization header is not Bearer <JWT>")
		} else {
			caller, err = v.Verify(r.Context(), raw)
		}
		if err != nil {
			// The reason, never the token.
			logger.InfoContext(r.Context(), "caller refused", "reason", err.Error(), "remote", r.RemoteAddr)
			Unauthorized(w, raw != "", err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), caller)))
	})
}

// BearerToken returns the token of an Authorization header value of the
// Bearer scheme (RFC 6750 §2.1; the scheme name is case-insensitive): the
// text after the first space, trimmed of surrounding white space. ok is
// false when the value has no space or its scheme is not Bearer; "Bearer "
// is ("", true), a missing token. The value is taken as given: the HTTP
// header arrives trimmed by net/http, and a WebSocket connection_init
// payload is trimmed by its caller.
func BearerToken(h string) (token string, ok bool) {
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// Unauthorized answers 401 with a GraphQL error UNAUTHENTICATED whose message
// is err's text (which never quotes a token) and a Bearer challenge
// (RFC 6750 §3: error="invalid_token" when a token was presented).
func Unauthorized(w http.ResponseWriter, presented bool, err error) {
	challenge := `Bearer realm="publishgate"`
	if presented {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{
			"message":    err.Error(),
			"extensions": map[string]any{"code": "UNAUTHENTICATED"},
		}},
		"data": nil,
	})
}
