// Package playground serves GraphiQL, the in-browser GraphQL IDE, with every file it needs
// embedded in the binary, so that it works in closed networks with no CDN.
//
// The page loads nothing but its own assets, runs no inline script and is served with a strict
// Content-Security-Policy. Its settings (endpoint, default query) travel as JSON in a data
// attribute, read by the embedded init.js. The vendored GraphiQL and React files, their versions
// and their licences are in assets/; vendor.sh re-creates them from the npm registry.
package playground

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/publishgate/publishgate/internal/webasset"
)

//go:embed page.html
var pageFS embed.FS

// config is what the options set.
type config struct {
	defaultQuery string
}

// Option changes how Handler serves the page.
type Option func(*config)

// WithDefaultQuery makes q the query the editor opens with when the browser has no query of its
// own saved from an earlier visit.
func WithDefaultQuery(q string) Option {
	return func(c *config) { c.defaultQuery = q }
}

// pageConfig is handed to init.js as JSON in the page's data-config attribute.
type pageConfig struct {
	Endpoint     string `json:"endpoint"`
	DefaultQuery string `json:"defaultQuery,omitempty"`
}

// pageData fills page.html.
type pageData struct {
	Title   string
	Config  string
	Styles  []string
	Scripts []string
}

// Handler returns the GraphiQL page for the GraphQL endpoint at endpoint (e.g. "/graphql"),
// with assets served under prefix + "/assets/" (prefix e.g. "/playground").
//
// The page is served at prefix and prefix + "/"; any other path gets 404, so the handler can be
// mounted on a mux at both, or at prefix + "/" alone. Asset URLs in the page carry a content
// hash and are cached for a year; the page itself is revalidated on every load. endpoint is
// normally a path on the same origin; an absolute URL also works, and its origin is then allowed
// in the Content-Security-Policy.
func Handler(title, endpoint, prefix string, opts ...Option) http.Handler {
	var c config
	for _, opt := range opts {
		opt(&c)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	site := &webasset.Site{
		Prefix:      prefix,
		FilesPrefix: prefix + "/assets",
		CSP:         contentSecurityPolicy(endpoint),
		Files:       loadAssets(),
	}
	site.Page = renderPage(site, title, pageConfig{Endpoint: endpoint, DefaultQuery: c.defaultQuery})
	return site
}

// renderPage builds the HTML page once; it panics only if the embedded template or the asset
// list is broken, which the package's tests catch.
func renderPage(site *webasset.Site, title string, pc pageConfig) webasset.Asset {
	tmpl := template.Must(template.ParseFS(pageFS, "page.html"))
	cfg, err := json.Marshal(pc)
	if err != nil {
		panic("playground: encoding page config: " + err.Error())
	}
	url := func(name string) string {
		u, ok := site.URL(name)
		if !ok {
			panic("playground: page references missing asset " + name)
		}
		return u
	}
	data := pageData{Title: title, Config: string(cfg)}
	for _, name := range []string{"graphiql.min.css", "playground.css"} {
		data.Styles = append(data.Styles, url(name))
	}
	// In load order: GraphiQL's UMD bundle expects window.React and window.ReactDOM, and init.js
	// renders GraphiQL.
	for _, name := range []string{"react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "init.js"} {
		data.Scripts = append(data.Scripts, url(name))
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		panic("playground: rendering page: " + err.Error())
	}
	return webasset.New(buf.Bytes(), "text/html; charset=utf-8")
}

// contentSecurityPolicy allows the page to load its own assets and to talk to the endpoint,
// nothing else. Scripts need neither 'unsafe-inline' (the bootstrap is init.js) nor 'unsafe-eval'.
// GraphiQL styles elements through the CSSOM, which CSP does not restrict, and its fonts are data:
// URLs in its CSS. The one <style> element it inserts (react-remove-scroll-bar, while a dialog is
// open) is allowed by its hash instead of 'unsafe-inline': its text depends only on the body's
// margins and scrollbar width, which playground.css keeps at zero. If a GraphiQL upgrade or a
// change to playground.css alters that text, the browser blocks the element and reports the new
// hash in the console; the only loss is the scroll lock behind dialogs on a page that does not
// scroll.
func contentSecurityPolicy(endpoint string) string {
	const scrollLockStyleHash = "'sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc='"
	connect := "'self'"
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
		ws := "ws"
		if u.Scheme == "https" {
			ws = "wss"
		}
		connect += " " + u.Scheme + "://" + u.Host + " " + ws + "://" + u.Host
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self' " + scrollLockStyleHash,
		"img-src 'self' data:",
		"font-src 'self' data:",
		"connect-src " + connect,
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}
