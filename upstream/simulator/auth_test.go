package simulator

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAuthOutcomes(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	claims := func(appID string, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"appId": appID, "sub": "t", "iat": now.Unix(), "exp": exp.Unix()}
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs256, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(alphaID, now.Add(time.Minute))).SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(alphaID, now.Add(time.Minute))).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		status int
		msg    string
	}{
		{"valid token is accepted", http.MethodGet, statusPath(botDone), mintToken(t, alphaSecret, claims(alphaID, now.Add(time.Minute))), 200, ""},
		{"token without exp is accepted", http.MethodGet, statusPath(botDone), mintToken(t, alphaSecret, jwt.MapClaims{"appId": alphaID}), 200, ""},
		{"wrong secret is refused", http.MethodGet, statusPath(botDone), mintToken(t, "nope", claims(alphaID, now.Add(time.Minute))), 401, msgBadCredentials},
		{"unknown appId is refused", http.MethodGet, statusPath(botDone), mintToken(t, alphaSecret, claims("cs-nobody", now.Add(time.Minute))), 401, msgBadCredentials},
		{"missing appId is refused", http.MethodGet, statusPath(botDone), mintToken(t, alphaSecret, jwt.MapClaims{"sub": "t"}), 401, msgBadCredentials},
		{"missing header is refused", http.MethodGet, statusPath(botDone), "", 401, msgBadCredentials},
		{"value that is not a JWT is refused", http.MethodGet, statusPath(botDone), "not-a-jwt", 401, msgNotAJWT},
		{"bearer prefix is not a JWT", http.MethodGet, statusPath(botDone), "Bearer " + mintToken(t, alphaSecret, claims(alphaID, now.Add(time.Minute))), 401, msgNotAJWT},
		{"expired token is refused", http.MethodGet, statusPath(botDone), mintToken(t, alphaSecret, claims(alphaID, now.Add(-time.Second))), 401, msgBadCredentials},
		{"RS256 token is refused", http.MethodGet, statusPath(botDone), rs256, 401, msgBadCredentials},
		{"alg none is refused", http.MethodGet, statusPath(botDone), none, 401, msgBadCredentials},
		{"app without the status scope is refused", http.MethodGet, statusPath(botGamma), h.token(gammaID, gammaSecret), 401, msgScope},
		{"app without the publish scope is refused", http.MethodPost, "/api/public/bot/" + botBeta + "/publish", mintToken(t, betaSecret, jwt.MapClaims{"appId": betaID, "jti": "j-scope", "exp": now.Add(time.Minute).Unix()}), 401, msgScope},
		{"app without the bot list scope is refused", http.MethodGet, "/api/public/bots", mintToken(t, betaSecret, jwt.MapClaims{"appId": betaID, "jti": "j-list", "exp": now.Add(time.Minute).Unix()}), 401, msgScope},
		{"another account's bot is an invalid stream", http.MethodGet, statusPath(botBeta), h.token(alphaID, alphaSecret), 400, "Invalid StreamId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.with(t).do(tt.method, tt.path, tt.token, map[string]any{"versionComment": "x"})
			if tt.msg == "" {
				if r.status != tt.status {
					t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r.body)
				}
				return
			}
			code := codeAuth
			if tt.status != 401 {
				code = tt.status
			}
			wantError(t, r, tt.status, tt.msg, code)
		})
	}
}

func TestAuthEnforcedJTI(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	tok := func(c jwt.MapClaims) string {
		c["appId"] = betaID
		return mintToken(t, betaSecret, c)
	}
	fresh := tok(jwt.MapClaims{"jti": "j-1", "exp": now.Add(30 * time.Minute).Unix()})
	steps := []struct {
		name   string
		token  string
		status int
	}{
		{"fresh jti is accepted", fresh, 200},
		{"replayed jti is refused", fresh, 401},
		{"same jti in another token is refused", tok(jwt.MapClaims{"jti": "j-1", "exp": now.Add(time.Minute).Unix()}), 401},
		{"missing jti is refused", tok(jwt.MapClaims{"exp": now.Add(time.Minute).Unix()}), 401},
		{"missing exp is refused", tok(jwt.MapClaims{"jti": "j-2"}), 401},
		{"exp over an hour away is refused", tok(jwt.MapClaims{"jti": "j-3", "exp": now.Add(61 * time.Minute).Unix()}), 401},
		{"another fresh jti is accepted", tok(jwt.MapClaims{"jti": "j-4", "exp": now.Add(time.Hour).Unix()}), 200},
	}
	for _, st := range steps {
		r := h.do(http.MethodGet, statusPath(botBeta), st.token, nil)
		if r.status != st.status {
			t.Fatalf("%s: status = %d, want %d (%s)", st.name, r.status, st.status, r.body)
		}
		if st.status == 401 {
			wantError(t, r, 401, msgBadCredentials, codeAuth)
		}
	}
}

func TestLastClaimsRecordsVerifiedTokensOnly(t *testing.T) {
	h := newHarness(t)
	if _, ok := h.sim.LastClaims(alphaID); ok {
		t.Fatal("claims before any request")
	}
	h.do(http.MethodGet, statusPath(botDone), mintToken(t, alphaSecret, jwt.MapClaims{"appId": alphaID, "sub": "first"}), nil)
	h.do(http.MethodGet, statusPath(botDone), mintToken(t, "forged", jwt.MapClaims{"appId": alphaID, "sub": "forged"}), nil)
	c, ok := h.sim.LastClaims(alphaID)
	if !ok || c["sub"] != "first" || c["appId"] != alphaID {
		t.Fatalf("LastClaims = %v, %v; want the verified token's claims", c, ok)
	}
	c["sub"] = "changed"
	if again, _ := h.sim.LastClaims(alphaID); again["sub"] != "first" {
		t.Fatal("LastClaims returned the simulator's own map")
	}
}
