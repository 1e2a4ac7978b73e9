// Package config reads publishgate's YAML configuration (SPEC §4): it expands
// ${VAR} references from an injected getenv, decodes strictly (an unknown key
// is a problem, not a silent no-op), fills every default from one place
// (Default), and validates, listing every problem by key instead of stopping
// at the first. Secrets are typed (Secret) so that printing, logging or
// marshalling a Config never shows them.
package config

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// Config is the whole configuration of a gateway, as in SPEC §4. The YAML
// keys are the tags; a Config from Parse or Load has its defaults applied.
type Config struct {
	// Listen is the HOST:PORT the HTTP server binds (--addr overrides it).
	Listen string `yaml:"listen"`
	// AllowUnauthenticated must be true to serve with no auth section on a
	// non-loopback address: SPEC §4 says an absent auth means an open gateway
	// (meant for the demo), so exposing one to a network is always a decision
	// written in the file. It does not relax authentication when Auth is set.
	AllowUnauthenticated bool `yaml:"allowUnauthenticated"`
	// BotIDPattern is the regular expression a bot ID must match before any
	// upstream request is made (SPEC §1.1: st- followed by a UUID).
	BotIDPattern string `yaml:"botIDPattern"`
	// Log chooses the log format and level.
	Log Log `yaml:"log"`
	// Redis is the shared cache; its zero value means an in-process cache.
	Redis Redis `yaml:"redis,omitempty"`
	// Cache holds how long answers are kept.
	Cache Cache `yaml:"cache"`
	// Auth authenticates incoming callers; nil means none (see
	// AllowUnauthenticated).
	Auth *Auth `yaml:"auth,omitempty"`
	// Limits bound what one GraphQL request may cost.
	Limits Limits `yaml:"limits"`
	// Security holds the switches of the GraphQL endpoint: persisted
	// queries, introspection, the Playground.
	Security Security `yaml:"security"`
	// CORS lists the browser origins allowed to call the gateway.
	CORS CORS `yaml:"cors"`
	// Upstream holds the defaults for requests to Kore.ai.
	Upstream Upstream `yaml:"upstream"`
	// Tracing configures OpenTelemetry tracing; off unless an endpoint is set.
	Tracing Tracing `yaml:"tracing"`
	// Environments are the Kore.ai hosts served, in configuration order.
	Environments []Environment `yaml:"environments"`

	// source records where Parse found each key, so that problems found by
	// Validate can say where they are; nil for a Config built in code. A
	// pointer keeps it out of %v.
	source *source
}

// source maps each key path seen by Parse to its line.
type source struct {
	lines map[string]int
}

// Log configures the process logger.
type Log struct {
	// Format is "text" or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
}

// Redis configures the shared cache. Set URL for one server, or Addrs for a
// cluster (or, with MasterName, the Sentinels of a failover group).
type Redis struct {
	// URL is a redis://, rediss:// or unix:// URL. Prefer Password over a
	// password in the URL; either way it is redacted when printed.
	URL string `yaml:"url,omitempty"`
	// Addrs are HOST:PORT addresses of cluster nodes or Sentinels.
	Addrs []string `yaml:"addrs,omitempty"`
	// Password authenticates to Redis (and overrides one in URL).
	Password Secret `yaml:"password,omitempty"`
	// MasterName names the Sentinel master; Addrs are then Sentinels.
	MasterName string `yaml:"masterName,omitempty"`
}

// Cache configures how long publish jobs are kept.
type Cache struct {
	// TTL is how long a finished job is fresh.
	TTL Duration `yaml:"ttl"`
	// InProgressTTL is how long a job still publishing is fresh.
	InProgressTTL Duration `yaml:"inProgressTTL"`
	// NotFoundTTL is how long "never published" is fresh.
	NotFoundTTL Duration `yaml:"notFoundTTL"`
	// StaleFor is how long past its freshness the last good answer may be
	// served while upstream fails; 0 never serves stale answers.
	StaleFor Duration `yaml:"staleFor"`
	// BotListTTL is how long a discovered bot list (discoverBots) is used
	// before Kore.ai's Get Bots API is asked again, in the background.
	BotListTTL Duration `yaml:"botListTTL"`
}

// Auth configures the authentication of incoming callers
// (Authorization: Bearer <JWT>).
type Auth struct {
	// HMACSecret verifies HS256 tokens; at least 32 bytes.
	HMACSecret Secret `yaml:"hmacSecret,omitempty"`
	// JWKSURL is where the keys of RS256/ES256 tokens are fetched.
	JWKSURL string `yaml:"jwksURL,omitempty"`
	// Issuer, when set, must equal the token's iss.
	Issuer string `yaml:"issuer,omitempty"`
	// Audience, when set, must be among the token's aud.
	Audience string `yaml:"audience,omitempty"`
	// EnvironmentsClaim names the claim listing the environments a caller
	// may see ("*" means all).
	EnvironmentsClaim string `yaml:"environmentsClaim"`
	// PublishClaim names the boolean claim needed for publishBot.
	PublishClaim string `yaml:"publishClaim"`
}

// Limits bound the cost of one GraphQL request.
type Limits struct {
	// MaxDepth is the deepest selection allowed.
	MaxDepth int `yaml:"maxDepth"`
	// MaxComplexity is the highest computed complexity allowed.
	MaxComplexity int `yaml:"maxComplexity"`
	// MaxBotsPerRequest is the most bots one request may touch.
	MaxBotsPerRequest int `yaml:"maxBotsPerRequest"`
	// MaxBodyBytes is the largest request body read.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// RequestTimeout is the deadline of a whole GraphQL request.
	RequestTimeout Duration `yaml:"requestTimeout"`
	// MaxAliases is the most aliases in one operation.
	MaxAliases int `yaml:"maxAliases"`
	// MaxRootFields is the most root fields in one operation.
	MaxRootFields int `yaml:"maxRootFields"`
	// MaxBatch is the most operations in one batched (JSON array) request.
	MaxBatch int `yaml:"maxBatch"`
	// MaxTokens is the most lexical tokens a query document may have; it
	// bounds the work of parsing and validating before any limit above can
	// be measured.
	MaxTokens int `yaml:"maxTokens"`
	// ParseTimeout bounds parsing and validating one document, measured
	// (gqlgen cannot interrupt them; MaxTokens bounds their work): a
	// document that took longer is refused instead of executed. Generous
	// by default, so that only a pathological document, or a process too
	// overloaded to serve it in time, trips it.
	ParseTimeout Duration `yaml:"parseTimeout"`
}

// Security configures what the GraphQL endpoint accepts beyond the limits.
type Security struct {
	// PersistedQueriesOnly refuses every operation that is not in
	// PersistedQueries (no ad-hoc queries, no APQ registration).
	PersistedQueriesOnly bool `yaml:"persistedQueriesOnly"`
	// PersistedQueries is a JSON file mapping the SHA-256 hex of each
	// allowed document to the document, loaded at start.
	PersistedQueries string `yaml:"persistedQueries,omitempty"`
	// APQTTL is how long an automatically persisted query is kept.
	APQTTL Duration `yaml:"apqTTL"`
	// Introspection answers __schema and __type queries.
	Introspection bool `yaml:"introspection"`
	// Playground serves GraphiQL at /playground.
	Playground bool `yaml:"playground"`
}

// CORS configures cross-origin requests from browsers.
type CORS struct {
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages may
	// call /graphql; empty allows none but the gateway's own.
	AllowedOrigins []string `yaml:"allowedOrigins,omitempty"`
}

// Upstream configures requests to Kore.ai in general.
type Upstream struct {
	// Timeout bounds one upstream request; the default of every
	// environment's Timeout.
	Timeout Duration `yaml:"timeout"`
	// Retries is how many times a failed idempotent request is retried.
	Retries int `yaml:"retries"`
	// Breaker configures the circuit breaker of every environment.
	Breaker Breaker `yaml:"breaker"`
}

// Breaker configures the per-environment circuit breaker: after Failures
// consecutive upstream-health failures (5xx, timeouts, connection errors;
// not 400, 401 or 429) the environment's calls are refused at once for
// OpenFor, then one probe decides whether it closes or opens again.
type Breaker struct {
	// Failures opens the breaker; 0 turns the breaker off.
	Failures int `yaml:"failures"`
	// OpenFor is how long it stays open before the half-open probe.
	OpenFor Duration `yaml:"openFor"`
}

// Tracing configures OpenTelemetry tracing: spans for each GraphQL
// operation and upstream call, W3C trace context taken from callers.
type Tracing struct {
	// OTLPEndpoint is the OTLP/HTTP collector, such as
	// http://otel-collector:4318 (/v1/traces is added when the URL has no
	// path); empty turns tracing off.
	OTLPEndpoint string `yaml:"otlpEndpoint,omitempty"`
	// SampleRatio is the share of traces started here that are recorded
	// (0 to 1); a caller's sampling decision is followed.
	SampleRatio float64 `yaml:"sampleRatio"`
}

// PathStyle chooses which of the two documented paths of the Publish Status
// API an environment's client uses (SPEC §1).
type PathStyle string

// The path styles.
const (
	// PathUnversioned is /api/public/bot/{botId}/publish/status.
	PathUnversioned PathStyle = "unversioned"
	// PathVersioned is /api/1.1/public/bot/{botId}/publish/status/.
	PathVersioned PathStyle = "versioned"
)

// Environment is one Kore.ai host and the app credentials used there.
type Environment struct {
	// Name identifies the environment in the GraphQL API.
	Name string `yaml:"name"`
	// Host is the base URL, such as https://bots.kore.ai.
	Host string `yaml:"host"`
	// PathStyle chooses the versioned or unversioned path.
	PathStyle PathStyle `yaml:"pathStyle"`
	// ClientID is the app's client ID (cs-...), the JWT's appId.
	ClientID string `yaml:"clientId,omitempty"`
	// ClientSecret signs the JWTs the gateway mints.
	ClientSecret Secret `yaml:"clientSecret,omitempty"`
	// Token is a ready-made JWT used as is, instead of minting.
	Token Secret `yaml:"token,omitempty"`
	// JTI mints a fresh token with a jti for every request, for apps that
	// enforce JTI (SPEC §1.1).
	JTI bool `yaml:"jti"`
	// Timeout bounds one request to this host.
	Timeout Duration `yaml:"timeout"`
	// Concurrency is how many requests to this host may be in flight.
	Concurrency int `yaml:"concurrency"`
	// MaxQueued is how many lookups may wait for one of those slots before
	// more are refused at once (UPSTREAM_UNAVAILABLE, or stale data); 0
	// means 4 × concurrency.
	MaxQueued int `yaml:"maxQueued"`
	// RatePerMinute bounds requests to the whole environment, shared by all
	// replicas through Redis when configured; 0 means no limit.
	RatePerMinute int `yaml:"ratePerMinute"`
	// BotRatePerMinute bounds requests per bot a minute; 0 means no limit.
	BotRatePerMinute int `yaml:"botRatePerMinute"`
	// BotRatePerHour bounds requests per bot an hour; 0 means no limit.
	BotRatePerHour int `yaml:"botRatePerHour"`
	// DiscoverBots also lists the account's bots with Kore's Get Bots API.
	DiscoverBots bool `yaml:"discoverBots"`
	// WatchInterval, when positive, keeps every known bot fresh in the
	// background at that period.
	WatchInterval Duration `yaml:"watchInterval"`
	// Bots are the bots served here.
	Bots []Bot `yaml:"bots"`
}

// Bot is one configured bot.
type Bot struct {
	// ID is the Bot ID / Stream ID (st-<uuid>).
	ID string `yaml:"id"`
	// Name is a display name.
	Name string `yaml:"name,omitempty"`
}

// Environment returns the environment called name.
func (c *Config) Environment(name string) (*Environment, bool) {
	for i := range c.Environments {
		if c.Environments[i].Name == name {
			return &c.Environments[i], true
		}
	}
	return nil, false
}

// Override applies command-line flags, which beat the file (SPEC §5): a
// non-empty listen replaces Listen, and a non-empty redisURL replaces the
// Redis URL and drops any Addrs and MasterName from the file (the flag
// chooses the server; Password stays). Call Validate afterwards.
func (c *Config) Override(listen, redisURL string) {
	if listen != "" {
		c.Listen = listen
	}
	if redisURL != "" {
		c.Redis.URL = redisURL
		c.Redis.Addrs = nil
		c.Redis.MasterName = ""
	}
}

// BotIDRegexp compiles BotIDPattern.
func (c *Config) BotIDRegexp() (*regexp.Regexp, error) {
	return regexp.Compile(c.BotIDPattern)
}

// SlogLevel returns Level as a slog.Level (info when unknown).
func (l Log) SlogLevel() slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return level
}

// NewHandler returns a slog handler writing to w in Format at Level.
func (l Log) NewHandler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.SlogLevel()}
	if strings.EqualFold(l.Format, "json") {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
