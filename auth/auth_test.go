package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/publishgate/publishgate/auth"
)

const secret = "unit-test-secret-0123456789abcdef0123456789"

func verifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{
		HMACSecret: []byte(secret), Issuer: "iss", Audience: "aud",
		EnvironmentsClaim: "envs", PublishClaim: "pub",
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	base := jwt.MapClaims{"iss": "iss", "aud": "aud", "exp": time.Now().Add(time.Hour).Unix(), "sub": "someone"}
	for k, v := range claims {
		base[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, base).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyReadsTheGrants(t *testing.T) {
	v := verifier(t)
	cases := []struct {
		name     string
		claims   jwt.MapClaims
		wantErr  bool
		sees     []string
		hidden   []string
		canPub   bool
		ofAllEnv bool
	}{
		{name: "a list of environments", claims: jwt.MapClaims{"envs": []string{"dev", "qa"}}, sees: []string{"dev", "qa"}, hidden: []string{"prod", ""}},
		{name: "a single environment as a string", claims: jwt.MapClaims{"envs": "dev"}, sees: []string{"dev"}, hidden: []string{"prod"}},
		{name: "star grants every environment", claims: jwt.MapClaims{"envs": []string{"*"}, "pub": true}, sees: []string{"dev", "prod", "anything"}, canPub: true},
		{name: "an empty list grants nothing", claims: jwt.MapClaims{"envs": []string{}}, hidden: []string{"dev", "*"}},
		{name: "a publish claim that is not a boolean grants nothing", claims: jwt.MapClaims{"envs": "dev", "pub": "true"}, sees: []string{"dev"}},
		{name: "a missing environments claim is refused", claims: jwt.MapClaims{}, wantErr: true},
		{name: "a non-string entry is refused", claims: jwt.MapClaims{"envs": []any{"dev", 3}}, wantErr: true},
		{name: "a number is refused", claims: jwt.MapClaims{"envs": 7}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), token(t, tc.claims))
			if tc.wantErr {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("err = %v, want ErrUnauthenticated", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := auth.NewContext(context.Background(), c)
			for _, e := range tc.sees {
				if err := auth.Authorize(ctx, e); err != nil {
					t.Errorf("Authorize(%q) = %v", e, err)
				}
			}
			for _, e := range tc.hidden {
				if err := auth.Authorize(ctx, e); !errors.Is(err, auth.ErrForbidden) {
					t.Errorf("Authorize(%q) = %v, want ErrForbidden", e, err)
				}
			}
			if err := auth.AuthorizePublish(ctx, "dev"); (err == nil) != tc.canPub {
				t.Errorf("AuthorizePublish = %v, want allowed = %v", err, tc.canPub)
			}
		})
	}
}

func TestNoCallerIsNoAccess(t *testing.T) {
	if err := auth.Authorize(context.Background(), "dev"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("Authorize without a caller = %v, want ErrUnauthenticated", err)
	}
	if got := auth.Visible(context.Background(), []string{"dev"}, func(s string) string { return s }); len(got) != 0 {
		t.Errorf("Visible without a caller = %v", got)
	}
}

func TestVisibleKeepsOrder(t *testing.T) {
	ctx := auth.NewContext(context.Background(), auth.NewCaller("x", []string{"c", "a"}, false))
	got := auth.Visible(ctx, []string{"a", "b", "c"}, func(s string) string { return s })
	if strings.Join(got, ",") != "a,c" {
		t.Errorf("Visible = %v", got)
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		name   string
		header string
		want   string
		wantOK bool
	}{
		{name: "a bearer token is returned", header: "Bearer abc.def.ghi", want: "abc.def.ghi", wantOK: true},
		{name: "the scheme is case-insensitive", header: "bEARER abc", want: "abc", wantOK: true},
		{name: "space around the token is trimmed", header: "Bearer   abc \t", want: "abc", wantOK: true},
		{name: "a scheme with no token is a missing token", header: "Bearer ", want: "", wantOK: true},
		{name: "a scheme alone is refused", header: "Bearer", wantOK: false},
		{name: "another scheme is refused", header: "Basic dXNlcjpwYXNz", wantOK: false},
		{name: "a bare token is refused", header: "abc.def.ghi", wantOK: false},
		{name: "a leading space is refused (callers trim first)", header: " Bearer abc", wantOK: false},
		{name: "an empty value is refused", header: "", wantOK: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := auth.BearerToken(tc.header)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("BearerToken(%q) = (%q, %v), want (%q, %v)", tc.header, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestMiddlewareOpenAndClosed(t *testing.T) {
	v := verifier(t)
	seen := func(w http.ResponseWriter, r *http.Request) {
		if auth.Authorize(r.Context(), "dev") != nil {
			w.WriteHeader(http.StatusTeapot)
		}
	}
	cases := []struct {
		name   string
		v      *auth.Verifier
		header string
		want   int
	}{
		{name: "open gateway lets anyone see everything", v: nil, want: 200},
		{name: "no token", v: v, want: 401},
		{name: "another scheme", v: v, header: "Basic dXNlcjpwYXNz", want: 401},
		{name: "a lower-case scheme with a valid token", v: v, header: "bearer " + token(t, jwt.MapClaims{"envs": "dev"}), want: 200},
		{name: "token too large", v: v, header: "Bearer " + strings.Repeat("a", 9<<10), want: 401},
		{name: "valid token", v: v, header: "Bearer " + token(t, jwt.MapClaims{"envs": "dev"}), want: 200},
		{name: "valid token for another environment", v: v, header: "Bearer " + token(t, jwt.MapClaims{"envs": "qa"}), want: http.StatusTeapot},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(auth.Middleware(tc.v, nil, http.HandlerFunc(seen)))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tc.want)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
		})
	}
}

// FuzzVerifyNeverAcceptsForgeries feeds arbitrary strings, and mutations of
// a valid token, to the verifier: nothing but the untouched valid token may
// be accepted, and nothing may panic.
func FuzzVerifyNeverAcceptsForgeries(f *testing.F) {
	v := verifier(f)
	valid := token(f, jwt.MapClaims{"envs": "dev", "exp": time.Now().Add(24 * time.Hour).Unix()})
	f.Add(valid, 0, "")
	f.Add("eyJhbGciOiJub25lIn0.eyJlbnZzIjoiKiJ9.", 0, "")
	f.Add(valid, 10, "A")
	f.Add("..", 1, ".")
	f.Fuzz(func(t *testing.T, tok string, at int, insert string) {
		if at > 0 && at <= len(tok) {
			tok = tok[:at-1] + insert + tok[at:]
		}
		c, err := v.Verify(context.Background(), tok)
		if err == nil && tok != valid {
			// A different string may still be the same token (base64url
			// padding bits); it must at least carry the same grants.
			if c == nil || !c.MaySee("dev") || c.MaySee("prod") {
				t.Fatalf("accepted a forgery %q with grants %+v", tok, c)
			}
		}
		if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("error %v does not wrap ErrUnauthenticated", err)
		}
		if err != nil && strings.Contains(err.Error(), tok) && len(tok) > 8 {
			t.Fatalf("the error quotes the token: %v", err)
		}
	})
}
