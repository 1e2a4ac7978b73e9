package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/config"
	"github.com/publishgate/publishgate/gateway"
)

// shutdownGrace bounds how long in-flight requests may take to finish after
// SIGTERM.
const shutdownGrace = 20 * time.Second

// serveFlags are the flags of the serve command (SPEC §3).
type serveFlags struct {
	config string
	addr   string
	redis  string
	demo   bool
	debug  string
}

func parseServeFlags(args []string, getenv func(string) string, stdout, stderr io.Writer) (serveFlags, error) {
	var f serveFlags
	fs := newFlagSet("serve", "[serve] [flags]", "Serve the GraphQL gateway. With no configuration: the demo.")
	demoDefault, _ := strconv.ParseBool(getenv("PUBLISHGATE_DEMO"))
	fs.StringVar(&f.config, "config", getenv("PUBLISHGATE_CONFIG"), "configuration file (env PUBLISHGATE_CONFIG); none = the demo")
	fs.StringVar(&f.addr, "addr", getenv("PUBLISHGATE_ADDR"), "listen address HOST:PORT (env PUBLISHGATE_ADDR; default 127.0.0.1:8080)")
	fs.StringVar(&f.redis, "redis", getenv("PUBLISHGATE_REDIS_URL"), "Redis URL (env PUBLISHGATE_REDIS_URL); empty = in-process cache")
	fs.BoolVar(&f.demo, "demo", demoDefault, "serve the demo even when a configuration is given (env PUBLISHGATE_DEMO)")
	fs.StringVar(&f.debug, "debug-addr", getenv("PUBLISHGATE_DEBUG_ADDR"), "serve Go's profiler (/debug/pprof/) on this loopback HOST:PORT (env PUBLISHGATE_DEBUG_ADDR); empty = off")
	return f, parseFlags(fs, args, stdout, stderr)
}

// runServe serves the gateway until ctx ends, then shuts down gracefully.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags, err := parseServeFlags(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	var (
		cfg    *config.Config
		isDemo = flags.demo || flags.config == ""
	)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if isDemo {
		d, err := startDemo(logger)
		if err != nil {
			return err
		}
		defer d.Close()
		cfg = d.cfg
	} else {
		cfg, err = config.Load(flags.config, getenv)
		if err != nil {
			return err
		}
		logger = slog.New(cfg.Log.NewHandler(stderr))
	}
	cfg.Override(flags.addr, flags.redis)
	if err := cfg.Validate(); err != nil {
		return err
	}
	redis.SetLogger(redisLogger{logger})
	if err := checkExposure(cfg, isDemo, logger); err != nil {
		return err
	}
	if flags.debug != "" {
		_, stop, err := startDebug(flags.debug, logger)
		if err != nil {
			return err
		}
		defer stop()
	}

	gw, err := gateway.New(ctx, cfg, gateway.Options{Logger: logger, Demo: isDemo})
	if err != nil {
		return err
	}
	defer gw.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	if isDemo {
		cacheKind := "in-process cache"
		if cfg.Redis.URL != "" || len(cfg.Redis.Addrs) > 0 {
			cacheKind = "Redis cache"
		}
		fmt.Fprintf(stdout, "publishgate demo: %d environments on a built-in Kore.ai simulator, %s, auth off.\n", len(cfg.Environments), cacheKind)
	}
	fmt.Fprintf(stdout, "publishgate serving %s/graphql\nStatus board: %s/board\nPlayground: %s/playground\n", base, base, base)
	return serveUntilDone(ctx, ln, gw.Handler(), cfg.Limits.RequestTimeout.Duration(), logger)
}

// checkExposure refuses to serve an open gateway on a non-loopback address
// unless the configuration says so explicitly, warns loudly when the gateway
// is open, and says which caller authentication is on otherwise.
func checkExposure(cfg *config.Config, isDemo bool, logger *slog.Logger) error {
	if a := cfg.Auth; a != nil {
		// Which verifiers are on, never their keys.
		logger.Info("caller authentication on", "hmac", a.HMACSecret != "", "jwksURL", a.JWKSURL, "issuer", a.Issuer, "audience", a.Audience)
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", cfg.Listen, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && !cfg.AllowUnauthenticated {
		return fmt.Errorf("listen %s: refusing to serve without caller authentication on a non-loopback address; configure auth, or set allowUnauthenticated: true", cfg.Listen)
	}
	what := "configuration"
	if isDemo {
		what = "demo"
	}
	logger.Warn("NO CALLER AUTHENTICATION: anyone who reaches this address sees every environment", "listen", cfg.Listen, "mode", what)
	return nil
}

// serveUntilDone serves h on ln until ctx ends, then stops accepting, lets
// in-flight requests finish (bounded by shutdownGrace) and returns nil.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, requestTimeout time.Duration, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      requestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing requests in flight", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}
