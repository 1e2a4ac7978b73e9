package gateway_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
	"github.com/publishgate/publishgate/internal/testkit"
	"github.com/publishgate/publishgate/upstream/simulator"
)

const testHMACSecret = "test-caller-secret-0123456789abcdef0123456789"

// jwksServer serves a JWK Set the test changes, like an identity provider
// rotating its keys.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []jwkset.JWK
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := jwkset.NewMemoryStorage()
		s.mu.Lock()
		for _, k := range s.keys {
			_ = st.KeyWrite(r.Context(), k)
		}
		s.mu.Unlock()
		raw, err := st.JSONPublic(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	t.Cleanup(s.Close)
	return s
}

// publish replaces the served keys with the public halves of keys.
func (s *jwksServer) publish(t *testing.T, keys map[string]signer) {
	t.Helper()
	var jwks []jwkset.JWK
	for kid, k := range keys {
		j, err := jwkset.NewJWKFromKey(k.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.ALG(k.method.Alg()), USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		jwks = append(jwks, j)
	}
	s.mu.Lock()
	s.keys = jwks
	s.mu.Unlock()
}

type signer struct {
	method jwt.SigningMethod
	key    interface{ Public() crypto.PublicKey }
}

func mustRSA(t *testing.T) signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return signer{jwt.SigningMethodRS256, k}
}

func mustEC(t *testing.T) signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{jwt.SigningMethodES256, k}
}

func mustEd(t *testing.T) signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{jwt.SigningMethodEdDSA, k}
}

// callerClaims are valid claims for the test issuer and audience, granting
// envs.
func callerClaims(envs ...string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": "test-caller", "iss": "https://idp.test/", "aud": "publishgate",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"environments": envs, "publish": false,
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for key, val := range c {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func signHS(t *testing.T, c jwt.MapClaims, secret string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signWith(t *testing.T, s signer, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, c)
	tok.Header["kid"] = kid
	out, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// authConfig returns a gateway configuration over the simulator with auth.
func authConfig(t *testing.T, simURL string, a config.Auth, accounts ...simulator.Account) *config.Config {
	t.Helper()
	cfg := testkit.Config(t, simURL, accounts...)
	a.Issuer, a.Audience = "https://idp.test/", "publishgate"
	a.EnvironmentsClaim, a.PublishClaim = "environments", "publish"
	cfg.Auth = &a
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// gqlResult is an HTTP answer of /graphql.
type gqlResult struct {
	status int
	header http.Header
	resp   testkit.Response
}

// call posts a GraphQL query with an Authorization header (none if empty).
func call(t *testing.T, baseURL, authorization, query string, vars map[string]any) gqlResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return send(t, http.MethodPost, baseURL+"/graphql", bytes.NewReader(body), map[string]string{"Content-Type": "application/json", "Authorization": authorization})
}

func send(t *testing.T, method, url string, body io.Reader, headers map[string]string) gqlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := gqlResult{status: res.StatusCode, header: res.Header}
	if len(raw) > 0 && json.Unmarshal(raw, &out.resp) != nil {
		t.Fatalf("HTTP %d: not JSON: %s", res.StatusCode, raw)
	}
	return out
}

func (g gqlResult) code() string {
	if len(g.resp.Errors) == 0 {
		return ""
	}
	return g.resp.Errors[0].Code()
}

func TestCallerAuthenticationMatrix(t *testing.T) {
	acct := testkit.Account("dev", 1)
	sim := testkit.MustSimulator(t, simulator.WithAccounts(acct))
	hmacGW := testkit.MustGateway(t, authConfig(t, sim.URL, config.Auth{HMACSecret: testHMACSecret}, acct), gateway.Options{})

	idp := newJWKSServer(t)
	rsaOld, rsaNew, ec, ed := mustRSA(t), mustRSA(t), mustEC(t), mustEd(t)
	idp.publish(t, map[string]signer{"rsa-1": rsaOld, "ec-1": ec, "ed-1": ed})
	jwksGW := testkit.MustGateway(t, authConfig(t, sim.URL, config.Auth{JWKSURL: idp.URL + "/jwks.json"}, acct), gateway.Options{})

	valid := callerClaims("dev")
	now := time.Now()
	noneToken := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const query = `{ environments { name } }`
	cases := []struct {
		name   string
		gw     *testkit.Gateway
		before func()
		header func() string
		want   int // HTTP status; 200 means the query answered
	}{
		{name: "no token is refused", gw: hmacGW, header: func() string { return "" }, want: 401},
		{name: "another scheme is refused", gw: hmacGW, header: func() string { return "Basic dXNlcjpwYXNz" }, want: 401},
		{name: "malformed token is refused", gw: hmacGW, header: func() string { return "Bearer not.a.jwt" }, want: 401},
		{name: "bad signature is refused", gw: hmacGW, header: func() string { return "Bearer " + signHS(t, valid, testHMACSecret+"x") }, want: 401},
		{name: "alg none is refused", gw: hmacGW, header: func() string { return "Bearer " + noneToken() }, want: 401},
		{name: "expired token is refused", gw: hmacGW, header: func() string {
			return "Bearer " + signHS(t, with(valid, "exp", now.Add(-2*time.Minute).Unix()), testHMACSecret)
		}, want: 401},
		{name: "token without exp is refused", gw: hmacGW, header: func() string { return "Bearer " + signHS(t, with(valid, "exp", nil), testHMACSecret) }, want: 401},
		{name: "token expired within the leeway is accepted", gw: hmacGW, header: func() string {
			return "Bearer " + signHS(t, with(valid, "exp", now.Add(-10*time.Second).Unix()), testHMACSecret)
		}, want: 200},
		{name: "not yet valid token is refused", gw: hmacGW, header: func() string {
			return "Bearer " + signHS(t, with(valid, "nbf", now.Add(5*time.Minute).Unix()), testHMACSecret)
		}, want: 401},
		{name: "token issued in the future is refused", gw: hmacGW, header: func() string {
			return "Bearer " + signHS(t, with(valid, "iat", now.Add(5*time.Minute).Unix()), testHMACSecret)
		}, want: 401},
		{name: "wrong issuer is refused", gw: hmacGW, header: func() string { return "Bearer " + signHS(t, with(valid, "iss", "https://evil.test/"), testHMACSecret) }, want: 401},
		{name: "wrong audience is refused", gw: hmacGW, header: func() string { return "Bearer " + signHS(t, with(valid, "aud", "someone-else"), testHMACSecret) }, want: 401},
		{name: "token without environments claim is refused", gw: hmacGW, header: func() string {
			return "Bearer " + signHS(t, with(valid, "environments", nil), testHMACSecret)
		}, want: 401},
		{name: "valid HS256 token works", gw: hmacGW, header: func() string { return "Bearer " + signHS(t, valid, testHMACSecret) }, want: 200},
		{name: "bearer scheme is case-insensitive", gw: hmacGW, header: func() string { return "bearer " + signHS(t, valid, testHMACSecret) }, want: 200},
		{name: "RS256 token on an HMAC-only gateway is refused", gw: hmacGW, header: func() string { return "Bearer " + signWith(t, rsaOld, "rsa-1", valid) }, want: 401},

		{name: "HS256 token against a JWKS gateway is refused", gw: jwksGW, header: func() string { return "Bearer " + signHS(t, valid, testHMACSecret) }, want: 401},
		{name: "alg none against a JWKS gateway is refused", gw: jwksGW, header: func() string { return "Bearer " + noneToken() }, want: 401},
		{name: "valid RS256 token works", gw: jwksGW, header: func() string { return "Bearer " + signWith(t, rsaOld, "rsa-1", valid) }, want: 200},
		{name: "valid ES256 token works", gw: jwksGW, header: func() string { return "Bearer " + signWith(t, ec, "ec-1", valid) }, want: 200},
		{name: "valid EdDSA token works", gw: jwksGW, header: func() string { return "Bearer " + signWith(t, ed, "ed-1", valid) }, want: 200},
		{name: "RS256 token signed by a key the JWKS does not hold is refused", gw: jwksGW, header: func() string { return "Bearer " + signWith(t, rsaNew, "rsa-1", valid) }, want: 401},
		{name: "JWKS rotated: the new key is accepted after a refresh", gw: jwksGW,
			before: func() { idp.publish(t, map[string]signer{"rsa-2": rsaNew, "ec-1": ec, "ed-1": ed}) },
			header: func() string { return "Bearer " + signWith(t, rsaNew, "rsa-2", valid) }, want: 200},
		{name: "JWKS rotated: the removed key is refused", gw: jwksGW, header: func() string { return "Bearer " + signWith(t, rsaOld, "rsa-1", valid) }, want: 401},
		{name: "JWKS token with the wrong audience is refused", gw: jwksGW, header: func() string { return "Bearer " + signWith(t, ec, "ec-1", with(valid, "aud", "x")) }, want: 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			sim.Simulator.Reset()
			res := call(t, tc.gw.URL, tc.header(), query, nil)
			if res.status != tc.want {
				t.Fatalf("HTTP %d, want %d: %+v", res.status, tc.want, res.resp.Errors)
			}
			if tc.want == 401 {
				if res.code() != "UNAUTHENTICATED" || len(res.resp.Errors) != 1 {
					t.Errorf("errors = %+v, want one UNAUTHENTICATED", res.resp.Errors)
				}
				if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("WWW-Authenticate = %q", res.header.Get("WWW-Authenticate"))
				}
				if n := sim.Simulator.Stats().Total; n != 0 {
					t.Errorf("%d upstream requests for a refused caller", n)
				}
				return
			}
			var data struct{ Environments []struct{ Name string } }
			res.resp.Decode(t, &data)
			if len(res.resp.Errors) > 0 || len(data.Environments) != 1 || data.Environments[0].Name != "dev" {
				t.Errorf("data = %s, errors = %+v", res.resp.Data, res.resp.Errors)
			}
		})
	}
}
