package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publishgate/publishgate/budget"
	"github.com/publishgate/publishgate/internal/keyspace"
	"github.com/publishgate/publishgate/internal/lease"
	"github.com/publishgate/publishgate/internal/script"
)

// Want is one miss of a batch: an entry fetched after Since answers it.
type Want struct {
	Key   Key
	Since time.Time
}

// ClaimState is what the batch step decided for one key.
type ClaimState uint8

// The answers of Coordinator.Claim.
const (
	// Fresh: an entry fetched after Since is cached; Claim.Entry holds it.
	Fresh ClaimState = iota + 1
	// Claimed: this replica holds the key's fill lock and has spent the
	// request's budget: it fetches, then hands the outcome to Finish.
	Claimed
	// Held: another replica holds the fill lock: wait for its notice.
	Held
	// Refused: the budget or a 429 back-off refuses a request now;
	// Claim.Err wraps upstream.ErrRateLimited and says when to retry.
	Refused
)

// Claim is the batch step's answer for one key.
type Claim struct {
	State ClaimState
	// Entry is the cached entry (Fresh).
	Entry *Entry
	// Err is the refusal (Refused).
	Err error
	// token is the fill lock's holder token (Claimed).
	token string
}

// Fill is the outcome of a claimed key, handed to Finish.
type Fill struct {
	Key   Key
	Claim Claim
	// Entry is what the upstream answered; nil when the fetch failed.
	Entry *Entry
	// Failure names the upstream error kind when the fetch failed; the
	// replicas waiting on the key receive it.
	Failure string
	// Backoff, when positive, refuses the bot's requests for that long
	// (Kore.ai answered 429).
	Backoff time.Duration
}

// Coordinator lets replicas that share a Redis fetch each missing bot once:
// for the misses of one loader batch it decides in one atomic step per hash
// slot which keys this replica fetches, and after the fetches it writes them
// back, releases the locks and tells the waiting replicas in one pipeline.
type Coordinator interface {
	// Claim answers, for every want in order, Fresh, Claimed, Held or
	// Refused. An error means Redis could not be asked (the caller then
	// fetches without coordination, within its own budget).
	Claim(ctx context.Context, wants []Want) ([]Claim, error)
	// Finish stores the entries of fills, releases their locks (each only
	// while it still holds its token) and announces the outcomes.
	Finish(ctx context.Context, fills []Fill) error
	// Watch registers interest in keys before they are claimed, so that no
	// notice between the claim and the wait is missed; the caller must end
	// the returned Watch.
	Watch(keys []Key) *Watch
}

// RedisCoordinator is the Coordinator on Redis. Its batch step is one Lua
// script per environment (on a Cluster, per hash slot: an environment's
// bucket, internal/keyspace):
// for each key it re-reads the cached entry, and unless one fetched after
// the want's time is there, checks whether another replica holds the fill
// lock, checks the bot's 429 back-off and takes every window of its budget
// (bot minute and hour, the environment's share: budget.Plan), and takes
// the fill lock (SET NX PX with a token). go-redis sends the scripts of a
// batch to each node in one pipeline, so a cold batch of any size costs one
// round trip per node to claim and one to finish.
//
// Waiting replicas hear one notice per finished batch on one pub/sub
// channel (see Watch); a holder that died is noticed when its lock expires,
// since waiters claim again every check interval.
type RedisCoordinator struct {
	client  redis.UniversalClient
	cache   *Tiered
	policy  Policy
	limits  func(env string) budget.Limits
	lockTTL time.Duration
	now     func() time.Time
	log     *slog.Logger
	notices *notices
	// perSlot groups a batch's script calls by slot (environment and
	// bucket), as a Cluster requires of a script's keys; one Redis node
	// takes one call per environment.
	perSlot bool
}

// CoordinatorOption configures a RedisCoordinator.
type CoordinatorOption func(*RedisCoordinator)

// WithCoordinatorClock sets the clock used for entry lifetimes.
func WithCoordinatorClock(now func() time.Time) CoordinatorOption {
	return func(c *RedisCoordinator) { c.now = now }
}

// WithCheckInterval sets how often a waiter claims again (default 250ms):
// the bound on how long a dead holder or a lost notice can hold it up past
// the lock's expiry.
func WithCheckInterval(d time.Duration) CoordinatorOption {
	return func(c *RedisCoordinator) {
		if d > 0 {
			c.notices.check = d
		}
	}
}

// NewRedisCoordinator returns a coordinator on client whose fill locks live
// lockTTL (they expire by themselves if their holder dies), writing entries
// through t under policy and spending the budgets limits gives. Close
// stops its subscription.
func NewRedisCoordinator(client redis.UniversalClient, t *Tiered, policy Policy, limits func(env string) budget.Limits, lockTTL time.Duration, logger *slog.Logger, opts ...CoordinatorOption) *RedisCoordinator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if limits == nil {
		limits = func(string) budget.Limits { return budget.Limits{} }
	}
	logger = logger.With("component", "fill")
	c := &RedisCoordinator{
		client: client, cache: t, policy: policy, limits: limits, lockTTL: lockTTL,
		now: time.Now, log: logger, notices: newNotices(client, logger),
	}
	_, c.perSlot = client.(*redis.ClusterClient)
	for _, o := range opts {
		o(c)
	}
	return c
}

// Close stops the subscription.
func (c *RedisCoordinator) Close() error { return c.notices.close() }

// Watch implements Coordinator.
func (c *RedisCoordinator) Watch(keys []Key) *Watch { return c.notices.watch(keys) }

// CheckInterval is how long a waiter waits for a notice before it claims
// again.
func (c *RedisCoordinator) CheckInterval() time.Duration { return c.notices.check }

// claimScript is the batch step of one group of bots of one environment
// (in a Cluster, of one slot: one bucket). KEYS: per bot its job key, fill
// lock, back-off, then a key per budget window (bot windows, then the
// environment's share of its bucket). ARGV: the lock token, the lock's
// lifetime in ms, the number of bot windows, the number of environment
// windows, then an emission and a tolerance per window (bot windows first),
// then per bot the time in µs an entry must be fetched after. It answers
// three values per bot: 1, the entry (Fresh); 2, 0 (Claimed); 3, the lock's
// PTTL (Held); 4, the ms to wait, the refusing window (0 the back-off, i
// the i-th window: Refused). A window key several bots share (an
// environment share) is read once and written once, at the end.
var claimScript = redis.NewScript(budget.LuaGCRA + `
local now = gcra_now()
local token, ttl = ARGV[1], ARGV[2]
local nb, ne = tonumber(ARGV[3]), tonumber(ARGV[4])
local nw = nb + ne
local per = 3 + nw
local nbots = #KEYS / per
local em, tol = {}, {}
for w = 1, nw do
  em[w] = tonumber(ARGV[3 + 2*w])
  tol[w] = tonumber(ARGV[4 + 2*w])
end
local tats, dirty = {}, {}
local function tat_of(key)
  local t = tats[key]
  if t == nil then
    t = tonumber(redis.call("GET", key)) or false
    tats[key] = t
  end
  return t or nil
end
local out = {}
for i = 1, nbots do
  local base = (i - 1) * per
  local since = tonumber(ARGV[4 + 2*nw + i])
  local v = redis.call("GET", KEYS[base + 1])
  if v and string.byte(v, 1) == 80 and (tonumber(string.sub(v, 2, 17)) or 0) > since then
    out[#out+1] = 1; out[#out+1] = v; out[#out+1] = 0
  else
    local held = redis.call("PTTL", KEYS[base + 2])
    if held ~= -2 then
      out[#out+1] = 3; out[#out+1] = held; out[#out+1] = 0
    else
      local back = redis.call("PTTL", KEYS[base + 3])
      if back > 0 then
        out[#out+1] = 4; out[#out+1] = back; out[#out+1] = 0
      else
        local new, refused = {}, nil
        for w = 1, nw do
          local tat, wait = gcra_step(tat_of(KEYS[base + 3 + w]), em[w], tol[w], now)
          if not tat then refused = {math.ceil(wait), w}; break end
          new[w] = tat
        end
        if refused then
          out[#out+1] = 4; out[#out+1] = refused[1]; out[#out+1] = refused[2]
        else
          for w = 1, nw do
            local key = KEYS[base + 3 + w]
            tats[key] = new[w]
            dirty[key] = true
          end
          redis.call("SET", KEYS[base + 2], token, "PX", ttl)
          out[#out+1] = 2; out[#out+1] = 0; out[#out+1] = 0
        end
      end
    end
  end
end
for key in pairs(dirty) do gcra_take(key, tats[key], now) end
return out
`)

// slotGroup is the wants of one script call, by index: one environment's,
// and in a Cluster only those of one of its buckets (one slot).
type slotGroup struct {
	env    string
	bucket int // -1: every bucket (not a Cluster)
	idx    []int
}

// groupWants groups wants by environment and, when perSlot, by bucket.
func groupWants(wants []Want, perSlot bool) []slotGroup {
	type tag struct {
		env    string
		bucket int
	}
	at := map[tag]int{}
	var groups []slotGroup
	for i, w := range wants {
		t := tag{w.Key.Environment, -1}
		if perSlot {
			t.bucket = keyspace.Bucket(w.Key.BotID)
		}
		g, ok := at[t]
		if !ok {
			g = len(groups)
			at[t] = g
			groups = append(groups, slotGroup{env: t.env, bucket: t.bucket})
		}
		groups[g].idx = append(groups[g].idx, i)
	}
	return groups
}

// Claim implements Coordinator.
func (c *RedisCoordinator) Claim(ctx context.Context, wants []Want) ([]Claim, error) {
	out := make([]Claim, len(wants))
	if len(wants) == 0 {
		return out, nil
	}
	if !c.cache.SharedHealthy() {
		return nil, errSharedPaused
	}
	token := lease.NewToken()
	groups := groupWants(wants, c.perSlot)
	calls := make([]script.Call, len(groups))
	plans := make([][]budget.Window, len(groups))
	for gi, g := range groups {
		plan := c.limits(g.env).Plan()
		plans[gi] = plan
		var nb, ne int
		for _, w := range plan {
			if w.Env {
				ne++
			} else {
				nb++
			}
		}
		keys := make([]string, 0, len(g.idx)*(3+nb+ne))
		args := make([]any, 0, 4+2*len(plan)+len(g.idx))
		args = append(args, token, millis(c.lockTTL), nb, ne)
		for _, w := range plan {
			em, tol := w.Args()
			args = append(args, em, tol)
		}
		for _, i := range g.idx {
			k := wants[i].Key
			keys = append(keys, keyspace.Job(k.Environment, k.BotID), keyspace.FillLock(k.Environment, k.BotID), keyspace.Backoff(k.Environment, k.BotID))
			for _, w := range plan { // bot windows first, as Plan orders them
				keys = append(keys, w.Key(k.Environment, k.BotID))
			}
			args = append(args, sinceMicros(wants[i].Since))
		}
		calls[gi] = script.Call{Keys: keys, Args: args}
	}
	sctx, cancel := context.WithTimeout(ctx, c.cache.timeout)
	defer cancel()
	cmds, err := script.Run(sctx, c.client, claimScript, calls)
	if err != nil {
		return nil, c.failed(ctx, err)
	}
	var firstErr error
	for gi, g := range groups {
		vals, err := cmds[gi].Slice()
		if err == nil && len(vals) != 3*len(g.idx) {
			err = fmt.Errorf("claim script answered %d values for %d keys", len(vals), len(g.idx))
		}
		if err != nil {
			// This node failed: its keys are fetched without coordination,
			// like every key when Redis is down.
			firstErr = errors.Join(firstErr, err)
			for _, i := range g.idx {
				out[i] = Claim{State: Claimed}
			}
			continue
		}
		for j, i := range g.idx {
			out[i] = c.decodeClaim(vals[3*j:3*j+3], plans[gi], token)
		}
	}
	if firstErr != nil {
		c.cache.fail(firstErr)
	}
	return out, nil
}

func (c *RedisCoordinator) failed(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		c.cache.fail(err)
	}
	return fmt.Errorf("fill claim: %w", err)
}

// decodeClaim reads one key's three answers.
func (c *RedisCoordinator) decodeClaim(v []any, plan []budget.Window, token string) Claim {
	state, _ := v[0].(int64)
	switch ClaimState(state) {
	case Fresh:
		raw, _ := v[1].(string)
		e, err := decodeEntryString(raw)
		if err != nil {
			// Unreadable (another version's): the lock was not taken, so
			// the key is fetched without coordination.
			return Claim{State: Claimed}
		}
		return Claim{State: Fresh, Entry: &e}
	case Claimed:
		return Claim{State: Claimed, token: token}
	case Held:
		return Claim{State: Held}
	case Refused:
		wait, _ := v[1].(int64)
		w, _ := v[2].(int64)
		scope := "Kore.ai 429 back-off"
		if w > 0 && int(w) <= len(plan) {
			scope = plan[w-1].Name
		}
		return Claim{State: Refused, Err: budget.Denied(scope, time.Duration(wait)*time.Millisecond)}
	}
	return Claim{State: Claimed}
}

// Finish implements Coordinator: one pipeline that writes every entry,
// releases the locks per slot group (lease.ReleaseMany), sets 429
// back-offs and publishes one notice.
func (c *RedisCoordinator) Finish(ctx context.Context, fills []Fill) error {
	if len(fills) == 0 {
		return nil
	}
	now := c.now()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cache.timeout)
	defer cancel()
	pipe := c.client.Pipeline()
	var n noticeWriter
	type release struct {
		keys   []string
		tokens []any
	}
	releases := map[[2]any]*release{}
	var order [][2]any
	for _, f := range fills {
		var raw []byte
		if f.Entry != nil {
			raw = appendEntry(nil, *f.Entry)
			if ttl := f.Entry.FetchedAt.Add(c.policy.RetainFor(*f.Entry)).Sub(now); ttl >= time.Millisecond {
				pipe.Set(wctx, RedisKey(f.Key), raw, ttl)
			}
		}
		if f.Backoff > 0 {
			budget.QueueBackoff(wctx, pipe, f.Key.Environment, f.Key.BotID, f.Backoff)
		}
		if f.Claim.token == "" {
			continue // fetched without a lock: nobody waits for it
		}
		n.add(keyspace.FillLock(f.Key.Environment, f.Key.BotID), raw, f.Failure)
		g := [2]any{f.Key.Environment, -1}
		if c.perSlot {
			g[1] = keyspace.Bucket(f.Key.BotID)
		}
		r := releases[g]
		if r == nil {
			r = &release{}
			releases[g] = r
			order = append(order, g)
		}
		r.keys = append(r.keys, keyspace.FillLock(f.Key.Environment, f.Key.BotID))
		r.tokens = append(r.tokens, f.Claim.token)
	}
	calls := make([]script.Call, 0, len(order))
	for _, g := range order {
		r := releases[g]
		calls = append(calls, script.Call{Keys: r.keys, Args: r.tokens})
	}
	if n.count > 0 {
		pipe.Publish(wctx, keyspace.FilledChannel, n.bytes())
	}
	cmds := script.Queue(wctx, pipe, lease.ReleaseMany, calls)
	_, err := pipe.Exec(wctx)
	if err == nil || script.IsPerCommand(err) {
		err = script.Rerun(wctx, c.client, lease.ReleaseMany, calls, cmds)
	}
	if err != nil {
		c.cache.fail(err)
		return fmt.Errorf("fill finish: %w", err)
	}
	return nil
}

// sinceMicros is t in µs since the epoch, as the claim script compares it
// with an entry's header (zero time: before any entry).
func sinceMicros(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func millis(d time.Duration) int64 { return max(d.Milliseconds(), 1) }
