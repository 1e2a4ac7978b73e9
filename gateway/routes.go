package gateway

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/publishgate/publishgate/board"
	"github.com/publishgate/publishgate/graph"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/playground"
)

// routes builds the HTTP routes.
func (g *Gateway) routes(resolver *graph.Resolver, ready readiness, opts Options) http.Handler {
	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: resolver, Complexity: complexity(resolver.Catalog)}))
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	g.addSubscriptionTransports(gql) // WebSocket, and SSE before POST (live.go)
	// @defer over multipart/mixed, before POST (defer.go).
	addIncrementalTransport(gql)
	gql.AddTransport(postJSON{}) // transport.POST, leaner (post.go)
	gql.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	gql.Use(graphqlObserver{g.obs}) // first: outermost, so it sees every answer
	// Queries over SSE get a dataloader and the request deadline (defer.go).
	gql.Use(streamedQueries{source: g.Source, timeout: g.cfg.Limits.RequestTimeout.Duration()})
	g.secureGraphQL(gql, g.sec, opts.Demo)
	if g.cfg.Limits.MaxComplexity > 0 {
		gql.Use(extension.FixedComplexityLimit(g.cfg.Limits.MaxComplexity))
	}
	gql.SetErrorPresenter(graph.ErrorPresenter(g.log))
	gql.SetRecoverFunc(graph.RecoverFunc(g.log))
	gql.AroundResponses(graph.Warnings)

	mux := http.NewServeMux()
	loaded := loader.Middleware(g.Source, gql)
	perRequest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isEventStream(r) {
			gql.ServeHTTP(w, r) // a subscription: no per-request dataloader (live.go)
			return
		}
		loaded.ServeHTTP(w, r)
	})
	graphqlRoute := g.limitRequest(g.streams(gql, g.protect(g.sec, perRequest)))
	if g.cfg.Security.Playground || opts.Demo {
		graphqlRoute = browsersToPlayground(graphqlRoute)
		mux.Handle(playgroundPath, playground.Handler("publishgate", "/graphql", playgroundPath, playground.WithDefaultQuery(DefaultQuery)))
		mux.Handle(playgroundPath+"/", playground.Handler("publishgate", "/graphql", playgroundPath, playground.WithDefaultQuery(DefaultQuery)))
	}
	mux.Handle("/graphql", graphqlRoute)
	boardPage := board.Handler("/board", "/graphql")
	mux.Handle("/board", boardPage)
	mux.Handle("/board/", boardPage)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		detail := ready(ctx)
		status, code := "ready", http.StatusOK
		for _, v := range detail {
			if v != "ok" && v != "in-process" {
				status, code = "not ready", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		// Open breakers do not make a replica unready: every replica talks
		// to the same hosts, and it still answers from the cache.
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": detail, "breakers": g.obs.breakerStates()})
	})
	mux.Handle("GET /metrics", g.obs.metrics.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, playgroundPath, http.StatusFound)
	})
	return g.obs.middleware(mux)
}

// playgroundPath is where the Playground is served (security.playground).
const playgroundPath = "/playground"

// browsersToPlayground sends a person who opens /graphql in a browser (a GET
// that asks for HTML and names no operation) to the Playground, instead of
// answering the CSRF refusal meant for scripts. A GET with a query or a
// persisted query's extensions, a WebSocket upgrade, and every request that
// does not ask for HTML reach next unchanged.
func browsersToPlayground(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && !isWebSocket(r) && acceptsHTML(r.Header.Get("Accept")) {
			if q := r.URL.Query(); !q.Has("query") && !q.Has("extensions") {
				http.Redirect(w, r, playgroundPath, http.StatusFound)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// acceptsHTML reports whether an Accept header names text/html (with a
// non-zero q), as a browser's navigation does. "*/*" alone does not count:
// that is what curl and most HTTP libraries send.
func acceptsHTML(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mediaType != "text/html" {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
				continue
			}
		}
		return true
	}
	return false
}

// limitRequest bounds the body size and the duration of a GraphQL request.
func (g *Gateway) limitRequest(next http.Handler) http.Handler {
	maxBody := g.cfg.Limits.MaxBodyBytes
	timeout := g.cfg.Limits.RequestTimeout.Duration()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if maxBody > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if timeout > 0 && !isWebSocket(r) && !isEventStream(r) { // subscriptions last
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// DefaultQuery is the query the Playground opens with: a dashboard over every
// environment.
const DefaultQuery = `# Where every bot stands, across every environment.
{
  summary { total successful failed inProgress neverPublished errors }
  environments {
    name
    host
    bots {
      id
      name
      publishStatus {
        status
        percentageComplete
        lastModifiedOn
        statusSummary { resourceType status }
        freshness { fetchedAt ageSeconds fromCache stale }
      }
    }
  }
}
`
