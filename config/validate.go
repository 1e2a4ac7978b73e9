package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration. Its text never contains
// a value from the file or the environment, only what is expected.
type Problem struct {
	// Key is the key path, such as environments[0].host.
	Key string
	// Line is the line in the file, or 0 when unknown.
	Line int
	// Message says what is wrong.
	Message string
}

// String formats p as "key: message (line N)".
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", p.Key, p.Message, p.Line)
	}
	return p.Key + ": " + p.Message
}

// ValidationError lists every problem of a configuration. Parse, Load and
// Validate return it; callers use errors.As.
type ValidationError struct {
	// Problems are in file order from Parse and Load (those with no line
	// last), in key order from Validate.
	Problems []Problem
}

// Error lists the problems one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// envNamePattern is the shape of an environment name: it appears in URLs,
// metrics labels and Redis keys.
var envNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Validate checks c and returns a *ValidationError listing every problem,
// or nil.
func (c *Config) Validate() error {
	if problems := c.validate(); len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// checker collects problems, placing each at the line of its key, or of the
// nearest enclosing key the file has.
type checker struct {
	lines    map[string]int
	problems []Problem
}

func (ch *checker) add(key, format string, args ...any) {
	line := 0
	for k := key; k != ""; k = parentKey(k) {
		if l, ok := ch.lines[k]; ok {
			line = l
			break
		}
	}
	ch.problems = append(ch.problems, Problem{Key: key, Line: line, Message: fmt.Sprintf(format, args...)})
}

// parentKey strips the last element of a key path.
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

func (c *Config) validate() []Problem {
	ch := &checker{}
	if c.source != nil {
		ch.lines = c.source.lines
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil || c.Listen == "" {
		ch.add("listen", "must be HOST:PORT, such as 127.0.0.1:8080")
	}
	botID, err := c.BotIDRegexp()
	if err != nil {
		ch.add("botIDPattern", "is not a valid regular expression")
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		ch.add("log.format", "must be text or json")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ch.add("log.level", "must be debug, info, warn or error")
	}
	c.validateRedis(ch)
	positive(ch, "cache.ttl", c.Cache.TTL)
	positive(ch, "cache.inProgressTTL", c.Cache.InProgressTTL)
	positive(ch, "cache.notFoundTTL", c.Cache.NotFoundTTL)
	positive(ch, "cache.botListTTL", c.Cache.BotListTTL)
	if c.Cache.StaleFor < 0 {
		ch.add("cache.staleFor", "must not be negative")
	}
	c.validateAuth(ch)
	for _, l := range []struct {
		key   string
		value int64
	}{
		{"limits.maxDepth", int64(c.Limits.MaxDepth)},
		{"limits.maxComplexity", int64(c.Limits.MaxComplexity)},
		{"limits.maxBotsPerRequest", int64(c.Limits.MaxBotsPerRequest)},
		{"limits.maxBodyBytes", c.Limits.MaxBodyBytes},
		{"limits.maxAliases", int64(c.Limits.MaxAliases)},
		{"limits.maxRootFields", int64(c.Limits.MaxRootFields)},
		{"limits.maxBatch", int64(c.Limits.MaxBatch)},
		{"limits.maxTokens", int64(c.Limits.MaxTokens)},
	} {
		if l.value <= 0 {
			ch.add(l.key, "must be greater than 0")
		}
	}
	positive(ch, "limits.requestTimeout", c.Limits.RequestTimeout)
	positive(ch, "limits.parseTimeout", c.Limits.ParseTimeout)
	c.validateSecurity(ch)
	positive(ch, "upstream.timeout", c.Upstream.Timeout)
	if c.Upstream.Retries < 0 || c.Upstream.Retries > 10 {
		ch.add("upstream.retries", "must be between 0 and 10")
	}
	if c.Upstream.Breaker.Failures < 0 || c.Upstream.Breaker.Failures > 1000 {
		ch.add("upstream.breaker.failures", "must be between 0 (no breaker) and 1000")
	}
	positive(ch, "upstream.breaker.openFor", c.Upstream.Breaker.OpenFor)
	c.validateTracing(ch)
	c.validateEnvironments(ch, botID)
	return ch.problems
}

func positive(ch *checker, key string, d Duration) {
	if d <= 0 {
		ch.add(key, "must be greater than 0")
	}
}

func (c *Config) validateRedis(ch *checker) {
	r := c.Redis
	if r.URL != "" && len(r.Addrs) > 0 {
		ch.add("redis.addrs", "set redis.url or redis.addrs, not both")
	}
	if r.URL != "" {
		// url.Parse errors quote the URL, which may hold a password.
		u, err := url.Parse(r.URL)
		switch {
		case err != nil:
			ch.add("redis.url", "is not a valid URL")
		case u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix":
			ch.add("redis.url", "must be a redis://, rediss:// or unix:// URL")
		case u.Scheme == "unix" && u.Path == "":
			ch.add("redis.url", "needs a socket path, such as unix:///run/redis.sock")
		case u.Scheme != "unix" && u.Host == "":
			ch.add("redis.url", "needs a host, such as redis://127.0.0.1:6379/0")
		}
	}
	for i, addr := range r.Addrs {
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			ch.add(fmt.Sprintf("redis.addrs[%d]", i), "must be HOST:PORT")
		}
	}
	if r.MasterName != "" && len(r.Addrs) == 0 {
		ch.add("redis.masterName", "needs redis.addrs listing the Sentinels")
	}
	if r.Password != "" && r.URL == "" && len(r.Addrs) == 0 {
		ch.add("redis.password", "is set but neither redis.url nor redis.addrs is")
	}
}

func (c *Config) validateAuth(ch *checker) {
	a := c.Auth
	if a == nil {
		// SPEC §4: no auth section means an open gateway, acceptable on a
		// loopback address (the demo, a sidecar); anywhere else it must be
		// asked for explicitly.
		if host, _, err := net.SplitHostPort(c.Listen); err == nil && !isLoopback(host) && !c.AllowUnauthenticated {
			ch.add("auth", "is missing while listen is not a loopback address: configure auth, or set allowUnauthenticated: true to serve every caller without authentication")
		}
		return
	}
	if a.HMACSecret == "" && a.JWKSURL == "" {
		ch.add("auth", "needs hmacSecret or jwksURL")
	}
	if a.HMACSecret != "" && len(a.HMACSecret) < 32 {
		ch.add("auth.hmacSecret", "must be at least 32 bytes")
	}
	if a.JWKSURL != "" {
		u, err := url.Parse(a.JWKSURL)
		switch {
		case err != nil || u.Host == "" || u.User != nil:
			ch.add("auth.jwksURL", "must be an absolute https URL without credentials")
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			ch.add("auth.jwksURL", "must use https (http is allowed only for loopback hosts)")
		case u.Scheme != "https" && u.Scheme != "http":
			ch.add("auth.jwksURL", "must be an https URL")
		}
	}
	if a.EnvironmentsClaim == "" {
		ch.add("auth.environmentsClaim", "must not be empty")
	}
	if a.PublishClaim == "" {
		ch.add("auth.publishClaim", "must not be empty")
	}
}

func (c *Config) validateSecurity(ch *checker) {
	positive(ch, "security.apqTTL", c.Security.APQTTL)
	if c.Security.PersistedQueriesOnly && c.Security.PersistedQueries == "" {
		ch.add("security.persistedQueries", "is required with persistedQueriesOnly: true (a JSON file of sha256 -> document)")
	}
	for i, o := range c.CORS.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "/") {
			ch.add(fmt.Sprintf("cors.allowedOrigins[%d]", i), "must be an origin such as https://dashboard.example.com (scheme, host, optional port; no path, no wildcard)")
		}
	}
}

func (c *Config) validateTracing(ch *checker) {
	if c.Tracing.SampleRatio < 0 || c.Tracing.SampleRatio > 1 {
		ch.add("tracing.sampleRatio", "must be between 0 and 1")
	}
	if ep := c.Tracing.OTLPEndpoint; ep != "" {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			ch.add("tracing.otlpEndpoint", "must be an http or https URL of an OTLP/HTTP collector, such as http://otel-collector:4318")
		}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateEnvironments(ch *checker, botID *regexp.Regexp) {
	if len(c.Environments) == 0 {
		ch.add("environments", "needs at least one environment")
	}
	names := make(map[string]int)
	for i := range c.Environments {
		e := &c.Environments[i]
		key := "environments[" + strconv.Itoa(i) + "]"
		switch first, dup := names[e.Name]; {
		case e.Name == "":
			ch.add(key+".name", "is required")
		case !envNamePattern.MatchString(e.Name):
			ch.add(key+".name", "must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters")
		case dup:
			ch.add(key+".name", "duplicates environments[%d].name", first)
		default:
			names[e.Name] = i
		}
		validateHost(ch, key+".host", e.Host)
		validateCredentials(ch, key, e)
		if e.PathStyle != PathUnversioned && e.PathStyle != PathVersioned {
			ch.add(key+".pathStyle", "must be unversioned or versioned")
		}
		positive(ch, key+".timeout", e.Timeout)
		if e.Concurrency < 1 || e.Concurrency > 1024 {
			ch.add(key+".concurrency", "must be between 1 and 1024")
		}
		if e.MaxQueued < 0 || e.MaxQueued > 100_000 {
			ch.add(key+".maxQueued", "must be between 0 (4 × concurrency) and 100000")
		}
		for _, r := range []struct {
			name  string
			value int
		}{{"ratePerMinute", e.RatePerMinute}, {"botRatePerMinute", e.BotRatePerMinute}, {"botRatePerHour", e.BotRatePerHour}} {
			if r.value < 0 {
				ch.add(key+"."+r.name, "must not be negative (0 means no limit)")
			}
		}
		if e.WatchInterval < 0 {
			ch.add(key+".watchInterval", "must not be negative (0 turns watching off)")
		}
		ids := make(map[string]int)
		for j, b := range e.Bots {
			bkey := fmt.Sprintf("%s.bots[%d].id", key, j)
			first, dup := ids[b.ID]
			switch {
			case b.ID == "":
				ch.add(bkey, "is required")
			case botID != nil && !botID.MatchString(b.ID):
				ch.add(bkey, "is not a bot ID (st- followed by a UUID, per botIDPattern)")
			case dup:
				ch.add(bkey, "duplicates %s.bots[%d].id", key, first)
			default:
				ids[b.ID] = j
			}
		}
	}
}

// validateHost checks an environment's base URL: the client appends the API
// paths to it, so it may carry nothing of its own.
func validateHost(ch *checker, key, host string) {
	if host == "" {
		ch.add(key, "is required (such as https://bots.kore.ai)")
		return
	}
	u, err := url.Parse(host)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		ch.add(key, "must be an absolute URL such as https://bots.kore.ai")
	case u.Scheme != "https" && u.Scheme != "http":
		ch.add(key, "must be an http or https URL")
	case u.Host == "" || u.Hostname() == "":
		ch.add(key, "needs a host name")
	case u.User != nil:
		ch.add(key, "must not contain credentials (use clientId and clientSecret)")
	case u.Path != "" && u.Path != "/":
		ch.add(key, "must not have a path (the API paths are added to it)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(host, "#"):
		ch.add(key, "must not have a query or fragment")
	}
}

// validateCredentials checks that an environment can authenticate upstream:
// with an app's client ID and secret to mint tokens, or a fixed token.
func validateCredentials(ch *checker, key string, e *Environment) {
	switch {
	case e.Token != "" && e.ClientSecret != "":
		ch.add(key+".token", "set token or clientSecret, not both")
	case e.Token == "":
		if e.ClientID == "" {
			ch.add(key+".clientId", "is required (or set token)")
		}
		if e.ClientSecret == "" {
			ch.add(key+".clientSecret", "is required (or set token)")
		}
	}
	if e.JTI && e.Token != "" {
		ch.add(key+".jti", "needs clientId and clientSecret: a fixed token cannot carry a fresh jti")
	}
}
