// Package board serves the status board: one web page, at /board, that shows where every bot of
// every environment stands in its publish pipeline.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no framework, no CDN), so it
// works in closed networks. It is built on the GraphQL API only: it gets nothing a query cannot
// fetch. It runs no inline script and is served with a strict Content-Security-Policy that lets
// it load its own files and talk to its own origin, nothing else. web/app.js holds the logic:
// the query, polling (or the publishStatusChanged subscription when the schema has it), filters
// kept in the URL, and the caller's token kept in session storage.
package board

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed web
var webFS embed.FS

// csp allows the page its own scripts, styles and images and requests to its own origin
// (fetch, and WebSocket for the subscription: 'self' covers ws: and wss: on the same host).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file ready to serve.
type asset struct {
	data        []byte
	contentType string
	hash        string // hex of the first 8 bytes of the SHA-256 of data: the ETag and the URL version
}

// handler serves the page at prefix and prefix+"/", and its files under prefix+"/".
type handler struct {
	prefix string
	page   asset
	assets map[string]asset
}

// Handler returns the board for the GraphQL endpoint at endpoint (e.g. "/graphql"), served at
// prefix (e.g. "/board") and prefix + "/", with its files under prefix + "/". Mount it at both
// paths. File URLs in the page carry a content hash and are cached for a year; the page itself
// is revalidated on every load.
func Handler(prefix, endpoint string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	h := &handler{prefix: prefix, assets: loadAssets()}
	h.page = h.renderPage(endpoint)
	return h
}

// ServeHTTP routes to the page or a file.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	var (
		a         asset
		ok        bool
		versioned bool
	)
	switch p := r.URL.Path; {
	case p == h.prefix || p == h.prefix+"/":
		a, ok = h.page, true
	case strings.HasPrefix(p, h.prefix+"/"):
		a, ok = h.assets[strings.TrimPrefix(p, h.prefix+"/")]
		versioned = ok && r.URL.Query().Get("v") == a.hash
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", `"`+a.hash+`"`)
	if versioned {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}

// pageData fills web/index.html.
type pageData struct {
	Endpoint, Script, Style, Icon string
}

// renderPage builds the HTML page once. It panics only if the embedded template or a file it
// names is missing, which the package's tests catch.
func (h *handler) renderPage(endpoint string) asset {
	tmpl := template.Must(template.ParseFS(webFS, "web/index.html"))
	var buf bytes.Buffer
	err := tmpl.Execute(&buf, pageData{
		Endpoint: endpoint,
		Script:   h.assetURL("app.js"),
		Style:    h.assetURL("board.css"),
		Icon:     h.assetURL("icon.svg"),
	})
	if err != nil {
		panic("board: rendering page: " + err.Error())
	}
	return newAsset(buf.Bytes(), "text/html; charset=utf-8")
}

// assetURL is the versioned URL of the named file: the hash in the query string changes with the
// content, which is what makes the long Cache-Control safe.
func (h *handler) assetURL(name string) string {
	a, ok := h.assets[name]
	if !ok {
		panic("board: page references missing file " + name)
	}
	return h.prefix + "/" + name + "?v=" + a.hash
}

// contentType is the type of an embedded file, from its extension; the system's MIME tables are
// not consulted, so every machine serves the same types.
func contentType(name string) (string, bool) {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8", true
	case ".css":
		return "text/css; charset=utf-8", true
	case ".svg":
		return "image/svg+xml", true
	}
	return "", false
}

// loadAssets reads every embedded file but the page template, keyed by its name under web/.
func loadAssets() map[string]asset {
	assets := make(map[string]asset)
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic("board: " + err.Error())
	}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" {
			return err
		}
		ct, ok := contentType(name)
		if !ok {
			panic("board: no content type for " + name)
		}
		data, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		assets[name] = newAsset(data, ct)
		return nil
	})
	if err != nil {
		panic("board: reading embedded files: " + err.Error())
	}
	return assets
}

func newAsset(data []byte, contentType string) asset {
	sum := sha256.Sum256(data)
	return asset{data: data, contentType: contentType, hash: hex.EncodeToString(sum[:8])}
}
