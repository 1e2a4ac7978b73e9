package board_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/publishgate/publishgate/board"
)

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assetRefs are the versioned file URLs the page loads.
var assetRefs = regexp.MustCompile(`(?:src|href)="(/board/[^"?]+\?v=[0-9a-f]{16})"`)

func TestHandler(t *testing.T) {
	h := board.Handler("/board", "/graphql")

	page := get(t, h, http.MethodGet, "/board")
	html := body(t, page)
	refs := assetRefs.FindAllStringSubmatch(html, -1)

	tests := []struct {
		name, method, target string
		wantStatus           int
		wantType, wantCache  string
	}{
		{"page is served at the prefix", http.MethodGet, "/board", http.StatusOK, "text/html; charset=utf-8", "no-cache"},
		{"page is served at the prefix with a slash", http.MethodGet, "/board/", http.StatusOK, "text/html; charset=utf-8", "no-cache"},
		{"script is served with its JavaScript type", http.MethodGet, "/board/app.js", http.StatusOK, "text/javascript; charset=utf-8", "no-cache"},
		{"style sheet is served with its CSS type", http.MethodGet, "/board/board.css", http.StatusOK, "text/css; charset=utf-8", "no-cache"},
		{"icon is served as SVG", http.MethodGet, "/board/icon.svg", http.StatusOK, "image/svg+xml", "no-cache"},
		{"a versioned URL may be cached for a year", http.MethodGet, refs[0][1], http.StatusOK, "", "public, max-age=31536000, immutable"},
		{"the page template itself is not a file", http.MethodGet, "/board/index.html", http.StatusNotFound, "", ""},
		{"an unknown file is not found", http.MethodGet, "/board/nope.js", http.StatusNotFound, "", ""},
		{"a path beside the prefix is not found", http.MethodGet, "/boardroom", http.StatusNotFound, "", ""},
		{"a POST is refused", http.MethodPost, "/board", http.StatusMethodNotAllowed, "", ""},
		{"a HEAD is answered", http.MethodHead, "/board/app.js", http.StatusOK, "text/javascript; charset=utf-8", "no-cache"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get(t, h, tc.method, tc.target)
			if r.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", r.StatusCode, tc.wantStatus)
			}
			if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
				!strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("Content-Security-Policy %q is not the strict one", csp)
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if tc.wantType != "" && r.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q, want %q", r.Header.Get("Content-Type"), tc.wantType)
			}
			if tc.wantCache != "" && r.Header.Get("Cache-Control") != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", r.Header.Get("Cache-Control"), tc.wantCache)
			}
		})
	}

	t.Run("page loads only its own files, with no inline script or style", func(t *testing.T) {
		if len(refs) != 4 { // icon twice (link and header image), style sheet, script
			t.Errorf("page references %d versioned files, want 4: %q", len(refs), refs)
		}
		for _, ref := range refs {
			if r := get(t, h, http.MethodGet, ref[1]); r.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d", ref[1], r.StatusCode)
			}
		}
		scripts := regexp.MustCompile(`<script([^>]*)>([^<]*)</script>`).FindAllStringSubmatch(html, -1)
		if len(scripts) != strings.Count(html, "<script") {
			t.Errorf("page has a <script> element without a plain closing tag")
		}
		for _, m := range scripts {
			if !strings.Contains(m[1], `src="/board/`) || strings.TrimSpace(m[2]) != "" {
				t.Errorf("page has an inline script: %q", m[0])
			}
		}
		for _, bad := range []string{"<style", " style=", " onclick=", " onload=", "http://", "https://"} {
			if strings.Contains(html, bad) {
				t.Errorf("page has %q", bad)
			}
		}
		if !strings.Contains(html, `data-endpoint="/graphql"`) {
			t.Error("page does not name its GraphQL endpoint")
		}
	})

	t.Run("conditional request answers Not Modified", func(t *testing.T) {
		r := get(t, h, http.MethodGet, "/board/app.js")
		req := httptest.NewRequest(http.MethodGet, "/board/app.js", nil)
		req.Header.Set("If-None-Match", r.Header.Get("ETag"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			t.Errorf("status %d, want 304", rec.Code)
		}
	})
}

// TestAssetsStaySmall keeps the board a page, not an application: its files together stay under
// 64 kB, and none of them reaches outside this origin.
func TestAssetsStaySmall(t *testing.T) {
	web := os.DirFS("web")
	total := 0
	err := fs.WalkDir(web, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web, name)
		if err != nil {
			return err
		}
		total += len(b)
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "") // a namespace, not a request
		for _, bad := range []string{"http://", "https://", "//cdn", "eval(", "new Function", "localStorage"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 64<<10 {
		t.Errorf("board files weigh %d bytes, over 64 kB", total)
	}
	t.Logf("board files: %d bytes", total)
}
