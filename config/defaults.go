package config

import "time"

// DefaultBotIDPattern is the shape of a Kore.ai Bot ID: st- followed by an
// 8-4-4-4-12 hex UUID in either case (SPEC §1.1).
const DefaultBotIDPattern = `^st-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// Default returns the configuration used where the file says nothing. Every
// default lives here, in DefaultEnvironment and in DefaultAuth.
//
// Parse starts from Default and decodes the file over it, so a key that is
// absent (or null) keeps its default and a key that is written keeps its
// value, zero included: botRatePerMinute: 0 means no per-bot limit, as SPEC
// §4 says, while an absent one means 50.
func Default() *Config {
	return &Config{
		Listen:       "127.0.0.1:8080",
		BotIDPattern: DefaultBotIDPattern,
		Log:          Log{Format: "text", Level: "info"},
		Cache: Cache{
			TTL:           Duration(30 * time.Second),
			InProgressTTL: Duration(2 * time.Second),
			NotFoundTTL:   Duration(30 * time.Second),
			StaleFor:      Duration(10 * time.Minute),
			BotListTTL:    Duration(5 * time.Minute),
		},
		Limits: Limits{
			MaxDepth:          12,
			MaxComplexity:     20000,
			MaxBotsPerRequest: 2000,
			MaxBodyBytes:      1 << 20,
			RequestTimeout:    Duration(10 * time.Second),
			MaxAliases:        200,
			MaxRootFields:     50,
			MaxBatch:          10,
			MaxTokens:         25000,
			ParseTimeout:      Duration(10 * time.Second),
		},
		Security: Security{
			APQTTL:        Duration(24 * time.Hour),
			Introspection: true,
			Playground:    true,
		},
		Upstream: Upstream{
			Timeout: Duration(5 * time.Second),
			Retries: 2,
			Breaker: Breaker{Failures: 5, OpenFor: Duration(30 * time.Second)},
		},
		Tracing: Tracing{SampleRatio: 1},
	}
}

// DefaultEnvironment returns an environment holding the per-environment
// defaults, with no name, host or credentials. Parse starts every entry of
// environments from it; an entry without timeout then takes upstream.timeout.
//
// The rates keep headroom under Kore.ai's cloud limits of 60 requests a
// minute and 1,800 an hour per bot (SPEC §1.1): 50 and 1,500 leave room for
// a person using the Bot Builder or a script on the same bot, and for
// replicas whose shared counters lag a little, so that the gateway itself
// never sees the 429s that lock a bot out until the window rolls.
// ratePerMinute 600 and concurrency 32 bound a whole host, whatever the
// number of bots.
func DefaultEnvironment() Environment {
	return Environment{
		PathStyle:        PathUnversioned,
		Timeout:          Default().Upstream.Timeout,
		Concurrency:      32,
		RatePerMinute:    600,
		BotRatePerMinute: 50,
		BotRatePerHour:   1500,
	}
}

// DefaultAuth returns an auth section holding the default claim names, with
// no keys. Parse starts an auth section from it when the file has one.
func DefaultAuth() Auth {
	return Auth{
		EnvironmentsClaim: "environments",
		PublishClaim:      "publish",
	}
}
