package playground

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// serve runs one request through h and returns the recorded response.
func serve(tb testing.TB, h http.Handler, method, target string, hdr http.Header) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// mustGetPage fetches the page at target and fails unless it is served as HTML.
func mustGetPage(tb testing.TB, h http.Handler, target string) string {
	tb.Helper()
	rec := serve(tb, h, http.MethodGet, target, nil)
	if rec.Code != http.StatusOK {
		tb.Fatalf("GET %s: status %d, want 200", target, rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
		tb.Fatalf("GET %s: Content-Type %q", target, got)
	}
	return rec.Body.String()
}

var assetRefPattern = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

// assetRefs lists the URLs the page loads, with HTML entities decoded.
func assetRefs(page string) []string {
	var refs []string
	for _, m := range assetRefPattern.FindAllStringSubmatch(page, -1) {
		refs = append(refs, html.UnescapeString(m[1]))
	}
	return refs
}

func TestHandlerServesPage(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		target string
	}{
		{"at prefix", "/playground", "/playground"},
		{"at prefix with slash", "/playground", "/playground/"},
		{"prefix given with trailing slash", "/playground/", "/playground"},
		{"prefix given without leading slash", "playground", "/playground/"},
		{"empty prefix at root", "", "/"},
		{"nested prefix", "/tools/graphiql", "/tools/graphiql/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Handler("publishgate", "/graphql", tt.prefix)
			page := mustGetPage(t, h, tt.target)
			for _, want := range []string{"<title>publishgate</title>", `id="graphiql"`, "graphiql.min.js", "init.js"} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(page, "<script>") {
				t.Error("page has an inline script")
			}
		})
	}
}

func TestPageReferencesNoExternalHost(t *testing.T) {
	h := Handler("publishgate", "/graphql", "/playground", WithDefaultQuery("{ environments { name } }"))
	page := mustGetPage(t, h, "/playground")
	// Our own files count as part of the page; the vendored bundles mention URLs in comments and
	// messages but load nothing (the browser test and the CSP make sure of that).
	own := map[string]string{"page": page}
	for _, name := range []string{"init.js", "playground.css"} {
		b, err := fs.ReadFile(assetFS, "web/"+name)
		if err != nil {
			t.Fatal(err)
		}
		own[name] = string(b)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|https?://`)
	for name, text := range own {
		if m := external.FindString(text); m != "" {
			t.Errorf("%s references %q", name, m)
		}
	}
	for _, ref := range assetRefs(page) {
		if ref != "data:," && !strings.HasPrefix(ref, "/playground/assets/") {
			t.Errorf("page loads %q, which is not one of its own assets", ref)
		}
	}
}

func TestPageAssetsServed(t *testing.T) {
	h := Handler("publishgate", "/graphql", "/playground")
	page := mustGetPage(t, h, "/playground/")
	wantTypes := map[string]string{
		".js":  "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8",
	}
	var served int
	for _, ref := range assetRefs(page) {
		if ref == "data:," { // the empty favicon that spares a request for /favicon.ico
			continue
		}
		served++
		t.Run(ref, func(t *testing.T) {
			rec := serve(t, h, http.MethodGet, ref, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			ext := ref[strings.LastIndex(ref, "."):strings.Index(ref, "?")]
			if got, want := rec.Header().Get("Content-Type"), wantTypes[ext]; got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q for a versioned URL", got)
			}
			if rec.Body.Len() == 0 {
				t.Error("empty body")
			}
		})
	}
	if served != 6 {
		t.Errorf("page loads %d assets, want 6 (2 stylesheets, 4 scripts)", served)
	}
}

func TestAssetCaching(t *testing.T) {
	h := Handler("publishgate", "/graphql", "/playground")
	first := serve(t, h, http.MethodGet, "/playground/assets/init.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	tests := []struct {
		name         string
		target       string
		hdr          http.Header
		wantStatus   int
		wantCache    string
		wantBodySize bool
	}{
		{"unversioned URL must revalidate", "/playground/assets/init.js", nil, http.StatusOK, "no-cache", true},
		{"stale version must revalidate", "/playground/assets/init.js?v=0000", nil, http.StatusOK, "no-cache", true},
		{"matching ETag gets 304", "/playground/assets/init.js", http.Header{"If-None-Match": {etag}}, http.StatusNotModified, "no-cache", false},
		{"other ETag gets the file", "/playground/assets/init.js", http.Header{"If-None-Match": {`"x"`}}, http.StatusOK, "no-cache", true},
		{"page must revalidate", "/playground", nil, http.StatusOK, "no-cache", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, h, http.MethodGet, tt.target, tt.hdr)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tt.wantCache)
			}
			if got := rec.Body.Len() > 0; got != tt.wantBodySize {
				t.Errorf("body of %d bytes", rec.Body.Len())
			}
		})
	}
}

func TestUnknownPathsAreNotFound(t *testing.T) {
	h := Handler("publishgate", "/graphql", "/playground")
	for _, target := range []string{
		"/playground/assets/nope.js",
		"/playground/assets/",
		"/playground/assets",
		"/playground/assets/LICENSES",
		"/playground/assets/../page.html",
		"/playground/assets/web/init.js",
		"/playground/init.js",
		"/playground/other",
		"/playgroundx",
		"/",
		"/graphql",
	} {
		t.Run(target, func(t *testing.T) {
			if rec := serve(t, h, http.MethodGet, target, nil); rec.Code != http.StatusNotFound {
				t.Errorf("status %d, want 404", rec.Code)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	h := Handler("publishgate", "/graphql", "/playground")
	tests := []struct {
		name       string
		method     string
		target     string
		wantStatus int
		wantBody   bool
	}{
		{"HEAD page has no body", http.MethodHead, "/playground", http.StatusOK, false},
		{"HEAD asset has no body", http.MethodHead, "/playground/assets/init.js", http.StatusOK, false},
		{"POST page is refused", http.MethodPost, "/playground", http.StatusMethodNotAllowed, true},
		{"DELETE asset is refused", http.MethodDelete, "/playground/assets/init.js", http.StatusMethodNotAllowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, h, tt.method, tt.target, nil)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.Len() > 0; got != tt.wantBody {
				t.Errorf("body of %d bytes", rec.Body.Len())
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	tests := []struct {
		name        string
		endpoint    string
		target      string
		wantConnect string
	}{
		{"page", "/graphql", "/playground", "connect-src 'self';"},
		{"asset", "/graphql", "/playground/assets/graphiql.min.js", "connect-src 'self';"},
		{"not found", "/graphql", "/playground/nope", "connect-src 'self';"},
		{"absolute endpoint elsewhere", "https://api.example.test:8443/graphql", "/playground",
			"connect-src 'self' https://api.example.test:8443 wss://api.example.test:8443;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, Handler("publishgate", tt.endpoint, "/playground"), http.MethodGet, tt.target, nil)
			hdr := rec.Header()
			if got := hdr.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := hdr.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q", got)
			}
			csp := hdr.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none';", "script-src 'self';", tt.wantConnect, "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
				if strings.Contains(csp, bad) {
					t.Errorf("Content-Security-Policy %q allows %q", csp, bad)
				}
			}
		})
	}
}

func TestPageEscapesTitleAndConfig(t *testing.T) {
	const (
		title = `</title><script>alert("t")</script> & co`
		query = "query Q { x }\n# \"</div><script>alert('q')</script>"
	)
	h := Handler(title, "/graphql?x=\"'<>", "/playground", WithDefaultQuery(query))
	page := mustGetPage(t, h, "/playground")
	if strings.Contains(page, "<script>alert") {
		t.Fatalf("page carries an injected script:\n%s", page)
	}
	if !strings.Contains(page, "<title>&lt;/title&gt;&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; &amp; co</title>") {
		t.Errorf("title not escaped as expected:\n%s", page)
	}
	m := regexp.MustCompile(`data-config="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no data-config attribute:\n%s", page)
	}
	var got pageConfig
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &got); err != nil {
		t.Fatalf("data-config is not JSON: %v", err)
	}
	if want := (pageConfig{Endpoint: "/graphql?x=\"'<>", DefaultQuery: query}); got != want {
		t.Errorf("data-config %+v, want %+v", got, want)
	}
}

func TestPageWithoutDefaultQueryLeavesGraphiQLDefault(t *testing.T) {
	page := mustGetPage(t, Handler("publishgate", "/graphql", "/playground"), "/playground")
	if strings.Contains(page, "defaultQuery") {
		t.Errorf("page sets a default query:\n%s", page)
	}
}

// TestVendoredFilesMatchVERSIONS guards against hand edits of the vendored files: vendor.sh
// records their SHA-256 in assets/VERSIONS.
func TestVendoredFilesMatchVERSIONS(t *testing.T) {
	versions, err := fs.ReadFile(assetFS, "assets/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(versions))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && len(f[0]) == 64 {
			want[f[1]] = f[0]
		}
	}
	if len(want) == 0 {
		t.Fatal("assets/VERSIONS lists no checksums")
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		t.Fatal(err)
	}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "VERSIONS" {
			return err
		}
		data, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		switch w, ok := want[name]; {
		case !ok:
			t.Errorf("assets/%s is not listed in assets/VERSIONS", name)
		case w != hex.EncodeToString(sum[:]):
			t.Errorf("assets/%s differs from what vendor.sh wrote; run playground/vendor.sh", name)
		}
		delete(want, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		t.Errorf("assets/VERSIONS lists %s, which is missing", name)
	}
}
