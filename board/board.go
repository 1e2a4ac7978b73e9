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
	"embed"
	"html/template"
	"net/http"
	"strings"

	"github.com/publishgate/publishgate/internal/webasset"
)

//go:embed web
var webFS embed.FS

// csp allows the page its own scripts, styles and images and requests to its own origin
// (fetch, and WebSocket for the subscription: 'self' covers ws: and wss: on the same host).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler returns the board for the GraphQL endpoint at endpoint (e.g. "/graphql"), served at
// prefix (e.g. "/board") and prefix + "/", with its files under prefix + "/". Mount it at both
// paths. File URLs in the page carry a content hash and are cached for a year; the page itself
// is revalidated on every load.
func Handler(prefix, endpoint string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	site := &webasset.Site{Prefix: prefix, FilesPrefix: prefix, CSP: csp, Files: loadAssets()}
	site.Page = renderPage(site, endpoint)
	return site
}

// pageData fills web/index.html.
type pageData struct {
	Endpoint, Script, Style, Icon string
}

// renderPage builds the HTML page once. It panics only if the embedded template or a file it
// names is missing, which the package's tests catch.
func renderPage(site *webasset.Site, endpoint string) webasset.Asset {
	url := func(name string) string {
		u, ok := site.URL(name)
		if !ok {
			panic("board: page references missing file " + name)
		}
		return u
	}
	tmpl := template.Must(template.ParseFS(webFS, "web/index.html"))
	var buf bytes.Buffer
	err := tmpl.Execute(&buf, pageData{
		Endpoint: endpoint,
		Script:   url("app.js"),
		Style:    url("board.css"),
		Icon:     url("icon.svg"),
	})
	if err != nil {
		panic("board: rendering page: " + err.Error())
	}
	return webasset.New(buf.Bytes(), "text/html; charset=utf-8")
}

// loadAssets reads every embedded file but the page template, keyed by its name under web/.
func loadAssets() map[string]webasset.Asset {
	assets := make(map[string]webasset.Asset)
	skipPage := func(name string) bool { return name == "index.html" }
	if err := webasset.Load(webFS, "web", skipPage, assets); err != nil {
		panic("board: reading embedded files: " + err.Error())
	}
	return assets
}
