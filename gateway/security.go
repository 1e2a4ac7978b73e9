package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"

	"github.com/publishgate/publishgate/apq"
	"github.com/publishgate/publishgate/auth"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/graph"
	"github.com/publishgate/publishgate/querylimit"
)

// security is what setupSecurity prepares from the configuration for the
// routes: the caller verifier (nil = open gateway) and the persisted query
// extension.
type security struct {
	verifier *auth.Verifier
	apq      apq.Extension
	origins  map[string]bool
}

// setupSecurity builds the verifier (its JWKS refresher stops on Close) and
// the persisted query extension: Redis-backed when the gateway has Redis, in
// process otherwise, or the fixed list of persisted-only mode.
func (g *Gateway) setupSecurity(ctx context.Context) (*security, error) {
	s := &security{origins: make(map[string]bool, len(g.cfg.CORS.AllowedOrigins))}
	for _, o := range g.cfg.CORS.AllowedOrigins {
		s.origins[o] = true
	}
	if a := g.cfg.Auth; a != nil {
		jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		v, err := auth.NewVerifier(jctx, auth.Config{
			HMACSecret:        []byte(a.HMACSecret.Reveal()),
			JWKSURL:           a.JWKSURL,
			Issuer:            a.Issuer,
			Audience:          a.Audience,
			EnvironmentsClaim: a.EnvironmentsClaim,
			PublishClaim:      a.PublishClaim,
			Logger:            g.log.With("component", "auth"),
		})
		if err != nil {
			cancel()
			return nil, err
		}
		g.closers = append(g.closers, func() error { cancel(); return nil })
		s.verifier = v
	}
	if g.cfg.Security.PersistedQueriesOnly {
		allowed, err := apq.LoadAllowed(g.cfg.Security.PersistedQueries)
		if err != nil {
			return nil, fmt.Errorf("security.persistedQueries: %w", err)
		}
		s.apq = apq.Extension{Allowed: allowed}
	} else {
		s.apq = apq.Extension{Store: apq.NewStore(g.redis, g.cfg.Security.APQTTL.Duration(), g.log.With("component", "apq"))}
	}
	return s, nil
}

// complexity prices the schema's fields from the catalog's shape.
func complexity(cat *catalog.Catalog) graph.ComplexityRoot {
	return querylimit.Complexity(func() querylimit.Shape {
		var s querylimit.Shape
		for _, e := range cat.Environments() {
			n := len(e.Known()) // discovered bots included
			s.Environments++
			s.TotalBots += n
			s.MaxBots = max(s.MaxBots, n)
		}
		// Bots named by reference but not configured still cost one.
		s.MaxBots, s.TotalBots = max(s.MaxBots, 1), max(s.TotalBots, 1)
		return s
	})
}

// secureGraphQL adds the limits that apply before any resolver runs: the
// parser's token limit, depth, aliases, root fields and the parse budget,
// persisted queries, and introspection when configured.
func (g *Gateway) secureGraphQL(gql *handler.Server, s *security, demo bool) {
	l := g.cfg.Limits
	gql.SetParserTokenLimit(l.MaxTokens)
	gql.Use(s.apq)
	gql.Use(querylimit.Extension{Limits: querylimit.Limits{
		MaxDepth:      l.MaxDepth,
		MaxAliases:    l.MaxAliases,
		MaxRootFields: l.MaxRootFields,
		ParseBudget:   l.ParseTimeout.Duration(),
	}})
	if g.cfg.Security.Introspection || demo {
		gql.Use(extension.Introspection{})
	}
}

// protect wraps the GraphQL handler with the browser and caller checks, in
// order: CORS (and preflights), CSRF, authentication, then the body (size,
// batches). Nothing reaches next that did not pass all of them.
func (g *Gateway) protect(s *security, next http.Handler) http.Handler {
	h := g.checkBody(next)
	h = auth.Middleware(s.verifier, g.log.With("component", "auth"), h)
	h = checkCSRF(h)
	return cors(s.origins, h)
}

// preflightHeaders are the request headers a browser may send cross-origin
// after a preflight; any of them makes a request non-simple, which is what
// the CSRF check asks for.
var preflightHeaders = []string{"Authorization", "X-Requested-With", "Apollo-Require-Preflight", "X-Apollo-Operation-Name"}

// cors answers preflights and marks answers for the allowed origins. A
// browser page from any other origin can neither read answers nor send
// the non-simple requests the CSRF check requires.
func cors(allowed map[string]bool, next http.Handler) http.Handler {
	allowHeaders := strings.Join(append([]string{"Content-Type"}, preflightHeaders...), ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if origin != "" && allowed[origin] {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			if preflight {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", allowHeaders)
				w.Header().Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		} else if preflight {
			writeError(w, http.StatusForbidden, graph.CodeForbidden, "origin not allowed (cors.allowedOrigins)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkCSRF refuses requests a foreign page could make a browser send
// without a CORS preflight: a POST must be JSON, and a GET must carry a
// header that forces a preflight (or the Authorization header). gqlgen's GET
// transport runs queries only, never mutations.
func checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, graph.CodeBadUserInput, "POST requests must have Content-Type: application/json")
				return
			}
		case http.MethodGet:
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				break // the WebSocket transport checks the origin itself
			}
			ok := false
			for _, h := range preflightHeaders {
				ok = ok || r.Header.Get(h) != ""
			}
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
				ok = true
			}
			if !ok {
				writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, "GET requests need an X-Requested-With or Apollo-Require-Preflight header (CSRF protection); or use POST with Content-Type: application/json")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// checkBody reads a POST body within limits.maxBodyBytes (limitRequest set
// the reader) and refuses batches: a JSON array of operations is not
// executed (gqlgen runs one operation per request); its size is checked
// against limits.maxBatch so the answer says which bound applies.
func (g *Gateway) checkBody(next http.Handler) http.Handler {
	maxBatch := g.cfg.Limits.MaxBatch
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		body, err := readBody(r)
		if err != nil {
			if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeError(w, http.StatusRequestEntityTooLarge, graph.CodeBadUserInput, fmt.Sprintf("request body larger than %d bytes (limits.maxBodyBytes)", mbe.Limit))
				return
			}
			writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, "could not read the request body")
			return
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
			var ops []json.RawMessage
			switch err := json.Unmarshal(trimmed, &ops); {
			case err != nil:
				writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, "the body is not a JSON object")
			case len(ops) > maxBatch:
				writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, fmt.Sprintf("a batch of %d operations; at most %d (limits.maxBatch), and batches are not supported: send one operation per request", len(ops), maxBatch))
			default:
				writeError(w, http.StatusBadRequest, graph.CodeBadUserInput, "batched operations are not supported: send one operation per request")
			}
			return
		}
		r.Body = bufferedBody{Reader: bytes.NewReader(body), b: body}
		next.ServeHTTP(w, r)
	})
}

// writeError answers a request refused before GraphQL ran, in the shape of
// a GraphQL response.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
		"data":   nil,
	})
}
