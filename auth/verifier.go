package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/publishgate/publishgate/internal/clip"
)

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// maxTokenBytes bounds the bearer token read; real JWTs are well under it.
const maxTokenBytes = 8 << 10

// The algorithms accepted: HS256 with the shared secret, and the asymmetric
// ones with keys from the JWKS. Never "none", and never an HMAC algorithm
// checked against a published (public) key.
var (
	hmacAlgs = []string{jwt.SigningMethodHS256.Alg()}
	jwksAlgs = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}
)

// Config configures a Verifier. HMACSecret or JWKSURL (or both) is required.
type Config struct {
	// HMACSecret verifies HS256 tokens.
	HMACSecret []byte
	// JWKSURL is where the RS256/ES256/EdDSA verification keys are
	// published; they are cached, refreshed hourly, and refreshed at once
	// (at most once per UnknownKIDRefresh) when a token names an unknown kid.
	JWKSURL string
	// Issuer, when set, must equal iss.
	Issuer string
	// Audience, when set, must be among aud.
	Audience string
	// EnvironmentsClaim names the claim listing the granted environments.
	EnvironmentsClaim string
	// PublishClaim names the boolean claim granting publishBot.
	PublishClaim string
	// HTTPClient fetches the JWKS (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// UnknownKIDRefresh is the least time between two refreshes caused by
	// unknown kids (default one minute), so forged kids cannot hammer the
	// identity provider.
	UnknownKIDRefresh time.Duration
	// Logger receives JWKS refresh failures (never a key or a token).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verifier checks caller JWTs. Safe for concurrent use.
type Verifier struct {
	parser       *jwt.Parser
	hmac         []byte
	jwks         keyfunc.Keyfunc
	envClaim     string
	publishClaim string
}

// NewVerifier returns a verifier for cfg. With a JWKS URL it starts a
// goroutine refreshing the keys until ctx ends; the first fetch failing does
// not fail start-up (the identity provider may be briefly down): tokens are
// refused until keys arrive.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if len(cfg.HMACSecret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: needs an HMAC secret or a JWKS URL")
	}
	if cfg.EnvironmentsClaim == "" || cfg.PublishClaim == "" {
		return nil, errors.New("auth: the environments and publish claim names are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{envClaim: cfg.EnvironmentsClaim, publishClaim: cfg.PublishClaim}
	var algs []string
	if len(cfg.HMACSecret) > 0 {
		v.hmac = append([]byte(nil), cfg.HMACSecret...)
		algs = append(algs, hmacAlgs...)
	}
	if cfg.JWKSURL != "" {
		hc := cfg.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 10 * time.Second}
		}
		every := cfg.UnknownKIDRefresh
		if every <= 0 {
			every = time.Minute
		}
		logger := cfg.Logger
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:            hc,
			HTTPTimeout:       10 * time.Second,
			RefreshInterval:   time.Hour,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(every), 1),
			// This bounds the wait for the limiter and the refresh itself.
			// rate.Limiter.Wait fails at once when the next token comes
			// after the deadline, so an unknown kid past the limit is
			// refused at once, never queued.
			RateLimitWaitMax: 5 * time.Second,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(ctx context.Context, err error) {
					logger.WarnContext(ctx, "JWKS refresh failed", "url", u, "err", err)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS: %w", err)
		}
		v.jwks = k
		algs = append(algs, jwksAlgs...)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks raw and returns its caller, or an error wrapping
// ErrUnauthenticated whose text says why without quoting the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Caller, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: missing bearer token", ErrUnauthenticated)
	}
	if len(raw) > maxTokenBytes {
		return nil, fmt.Errorf("%w: token too large", ErrUnauthenticated)
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// The parser has already refused algorithms outside the valid
		// methods; choose the key by the algorithm family so that an HMAC
		// token is only ever checked with the shared secret.
		if _, isHMAC := t.Method.(*jwt.SigningMethodHMAC); isHMAC {
			if v.hmac == nil {
				return nil, errors.New("HMAC tokens are not accepted")
			}
			return v.hmac, nil
		}
		if v.jwks == nil {
			return nil, errors.New("no JWKS configured")
		}
		return v.jwks.KeyfuncCtx(ctx)(t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnauthenticated, reason(err))
	}
	envs, err := stringList(claims[v.envClaim])
	if err != nil {
		return nil, fmt.Errorf("%w: claim %q %v", ErrUnauthenticated, v.envClaim, err)
	}
	publish, _ := claims[v.publishClaim].(bool)
	sub, _ := claims["sub"].(string)
	return NewCaller(clip.String(sub, 128), envs, publish), nil
}

// reason says why a token was refused, in words that quote nothing from it.
func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token signed with an algorithm or key that is not accepted"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	}
	return "invalid token"
}

// stringList reads a claim that lists names: a JSON array of strings, or a
// single string.
func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, errors.New("is missing")
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("must list strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("must be a list of environment names")
}
