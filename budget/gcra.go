package budget

import (
	"strconv"
	"time"

	"github.com/publishgate/publishgate/internal/keyspace"
)

// Window is one token bucket of a bot's budget as the Redis scripts take it:
// requests are spaced Emission apart on average, Burst may go at once.
type Window struct {
	// Name says which limit it is (bot-minute, bot-hour, env-minute).
	Name string
	// Emission is the period divided by the refill rate.
	Emission time.Duration
	// Burst is how many requests a full bucket lets through at once
	// (fractional for an environment's share).
	Burst float64
	// Env marks an environment-wide window: its bucket is split evenly over
	// the keyspace buckets, each bot spending from its own bucket's share.
	Env bool
}

// Plan is the windows a request to a bot of an environment with these limits
// spends from, bot windows first.
//
// An environment window is shared by every bot, but taking it must stay in
// the slot of the bot's bucket (one script per slot, no cross-slot calls), so
// it is split into keyspace.Buckets shares: each refills at 1/Buckets of the
// rate and holds twice its fair part of the burst (at least one request).
// Bots fall into buckets evenly but not exactly (a cold query of 500 bots of
// one environment puts up to about 45 in one bucket where the fair part is
// 31), and the slack keeps a query within the limit from being refused for
// that. The environment as a whole keeps its rate; its burst is at most
// twice the limit. That is acceptable for this window alone: it is the
// gateway's own politeness bound (soft: see window.soft), not Kore.ai's,
// whose per-bot windows are exact.
func (l Limits) Plan() []Window {
	botW, envW := l.windows()
	out := make([]Window, 0, len(botW)+len(envW))
	for _, w := range botW {
		burst, rate := w.bucket()
		out = append(out, Window{Name: w.name, Emission: w.period / time.Duration(rate), Burst: float64(burst)})
	}
	for _, w := range envW {
		burst, rate := w.bucket()
		share := float64(rate) / keyspace.Buckets
		out = append(out, Window{
			Name:     w.name,
			Emission: time.Duration(float64(w.period) / share),
			Burst:    max(1, 2*float64(burst)/keyspace.Buckets),
			Env:      true,
		})
	}
	return out
}

// Key is the Redis key of window w for bot of env.
func (w Window) Key(env, bot string) string {
	if w.Env {
		return keyspace.EnvBudget(env, keyspace.Bucket(bot), w.Name)
	}
	return keyspace.BotBudget(env, bot, w.Name)
}

// Args are w's script arguments: the emission interval and the burst's
// tolerance, in milliseconds.
func (w Window) Args() (emission, tolerance string) {
	e := float64(w.Emission) / float64(time.Millisecond)
	return strconv.FormatFloat(e, 'f', 3, 64), strconv.FormatFloat(e*w.Burst, 'f', 3, 64)
}

// LuaGCRA defines the Lua functions the budget scripts (this package's and
// the cache's batch step) share, so that one implementation of GCRA (the
// generic cell rate algorithm, a token bucket kept as one "theoretical
// arrival time" per key) decides everywhere:
//
//	gcra_now()                      -> the server's time in ms
//	gcra_step(tat, em, tol, now)    -> gcra_check on a TAT already read (nil: none)
//	gcra_check(key, em, tol, now)   -> new TAT, or nil and the ms to wait
//	gcra_take(key, tat, now)        -> stores a TAT returned by gcra_check
//
// A request of several windows checks them all first and takes them only if
// every one allows it, so a refusal spends nothing.
const LuaGCRA = `
local function gcra_now()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function gcra_step(tat, em, tol, now)
  if not tat or tat < now then tat = now end
  local new = tat + em
  local allow_at = new - tol
  if now < allow_at then return nil, allow_at - now end
  return new, 0
end
local function gcra_check(key, em, tol, now)
  return gcra_step(tonumber(redis.call("GET", key)), em, tol, now)
end
local function gcra_take(key, tat, now)
  redis.call("SET", key, string.format("%.3f", tat), "PX", math.max(1, math.ceil(tat - now)))
end
`

// luaAllow spends one request of a bot: KEYS[1] is its back-off key, then
// one key per window; ARGV holds an emission and a tolerance per window.
// It returns {1} when allowed, or {0, ms to wait, index of the refusing
// window (0 for the back-off)}.
const luaAllow = LuaGCRA + `
local now = gcra_now()
local back = redis.call("PTTL", KEYS[1])
if back > 0 then return {0, back, 0} end
local tats = {}
for i = 2, #KEYS do
  local tat, wait = gcra_check(KEYS[i], tonumber(ARGV[2*i-3]), tonumber(ARGV[2*i-2]), now)
  if not tat then return {0, math.ceil(wait), i - 1} end
  tats[i] = tat
end
for i = 2, #KEYS do gcra_take(KEYS[i], tats[i], now) end
return {1}
`
