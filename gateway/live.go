package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"

	"github.com/publishgate/publishgate/auth"
	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/publish"
)

// wsKeepAlive is how often an idle subscription connection is pinged, so
// proxies do not cut it and dead clients are noticed.
const wsKeepAlive = 10 * time.Second

// setupLive builds the live hub (polling at the cache's cadences, shared
// across replicas through Redis when configured) and the publisher of
// publishBot, whose new jobs the hub passes on at once. Subscriptions end
// when ctx ends (SIGTERM in serve.go) or the gateway closes.
func (g *Gateway) setupLive(ctx context.Context, policy cache.Policy, jobs cache.JobCache, starters map[string]publish.Starter, opts Options) *publish.Publisher {
	g.Live = live.New(g.Source, live.Options{
		InProgressEvery: policy.InProgressTTL,
		IdleEvery:       policy.TTL,
		Cache:           jobs,
		MaxRefs:         g.cfg.Limits.MaxBotsPerRequest,
		Redis:           g.redis,
		Logger:          g.log,
	})
	stop := context.AfterFunc(ctx, func() { _ = g.Live.Close() })
	g.closers = append(g.closers, func() error { stop(); return g.Live.Close() })
	var store publish.Store
	if g.redis != nil {
		store = publish.NewRedisStore(g.redis)
	}
	return publish.New(starters, g.Source, store,
		publish.WithObserver(func(k loader.Key, o loader.Outcome) {
			g.Live.Observe(live.Key{Environment: k.Environment, BotID: k.BotID}, o)
		}),
		publish.WithLogger(opts.Logger),
		publish.WithClock(opts.Now),
	)
}

// addSubscriptionTransports adds graphql-transport-ws and SSE. SSE comes
// before POST: gqlgen uses the first transport that supports a request, and
// an SSE request is a POST that accepts text/event-stream.
func (g *Gateway) addSubscriptionTransports(gql *handler.Server) {
	var patterns []string
	for _, o := range g.cfg.CORS.AllowedOrigins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			patterns = append(patterns, u.Host)
		}
	}
	gql.AddTransport(transport.Websocket{
		KeepAlivePingInterval: wsKeepAlive,
		InitTimeout:           10 * time.Second,
		InitFunc:              g.wsInit,
		// The page's origin must be the gateway's own or an allowed one
		// (cross-site WebSocket hijacking).
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: websocket.AcceptOptions{OriginPatterns: patterns}},
	})
	gql.AddTransport(transport.SSE{KeepAlivePingInterval: wsKeepAlive})
}

// upgradeAuthKey carries the Authorization header of a WebSocket upgrade
// request to wsInit.
type upgradeAuthKey struct{}

// wsInit authenticates a WebSocket connection on connection_init, with the
// same verifier as HTTP: the token comes from the payload's Authorization
// ("Bearer ..."; what GraphiQL and the board send), else from the upgrade
// request's header. A refused token closes the socket with 4403. The
// connection's context then carries the caller, a subscription counter, and
// ends when the hub closes.
func (g *Gateway) wsInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	caller := auth.Open()
	if v := g.sec.verifier; v != nil {
		header := payload.Authorization()
		if header == "" {
			header, _ = ctx.Value(upgradeAuthKey{}).(string)
		}
		raw, ok := auth.BearerToken(strings.TrimSpace(header))
		var err error
		switch {
		case header == "":
			err = errors.New("unauthenticated: no Authorization in connection_init")
		case !ok:
			err = errors.New("unauthenticated: Authorization is not Bearer <JWT>")
		default:
			caller, err = v.Verify(ctx, raw)
		}
		if err != nil {
			// The reason, never the token.
			g.log.InfoContext(ctx, "caller refused", "reason", err.Error(), "transport", "websocket")
			return transport.WithWebsocketCloseCode(ctx, 4403), nil, err
		}
	}
	ctx = auth.NewContext(ctx, caller)
	ctx = live.WithConnection(ctx)
	ctx, cancel := context.WithCancel(ctx)
	unhook := g.Live.OnClose(cancel)
	context.AfterFunc(ctx, func() { unhook() })
	return ctx, nil, nil
}

// isWebSocket reports whether r asks for a WebSocket upgrade.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// isEventStream reports whether r asks for Server-Sent Events.
func isEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// streams routes the long-lived requests of subscriptions. A WebSocket
// upgrade cannot carry headers from a browser, so it skips the HTTP caller
// check and authenticates on connection_init (wsInit); an SSE request goes
// through protect like any POST. Neither gets a per-request dataloader (it
// would live, and cache, as long as the connection), nor the server's
// read and write deadlines, which would cut them after the request timeout.
func (g *Gateway) streams(gql http.Handler, protected http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stream := isWebSocket(r) || isEventStream(r)
		if stream {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		}
		if isWebSocket(r) {
			ctx := context.WithValue(r.Context(), upgradeAuthKey{}, r.Header.Get("Authorization"))
			gql.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		protected.ServeHTTP(w, r)
	})
}
