package simulator

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Scope names an admin API scope of a Kore.ai app, as the Bot Admin Console labels it.
type Scope string

// The admin API scopes the simulated routes need.
const (
	// ScopePublishStatus allows GET .../publish/status.
	ScopePublishStatus Scope = "Bot Publish > Publish Status"
	// ScopePublish allows POST .../publish.
	ScopePublish Scope = "Bot Publish > Publish"
	// ScopeBotList allows GET /api/public/bots (Kore files the Get Bots API under Role Management).
	ScopeBotList Scope = "Role Management"
)

// State is the state of a bot's last publish job when the simulator starts.
type State int

// The states a bot can start in. The zero value is StateNeverPublished: a bot nobody published.
const (
	// StateNeverPublished: no job; the status route answers 200 {}.
	StateNeverPublished State = iota
	// StateSuccessful: the last job finished successfully.
	StateSuccessful
	// StateFailed: the last job finished and failed.
	StateFailed
	// StateInProgress: a job is running, Bot.Percentage percent along.
	StateInProgress
)

// String returns the state's name, for logs and test names.
func (s State) String() string {
	switch s {
	case StateNeverPublished:
		return "never-published"
	case StateSuccessful:
		return "successful"
	case StateFailed:
		return "failed"
	case StateInProgress:
		return "in-progress"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Account is one Kore.ai account: one app's credentials and the bots they cover.
type Account struct {
	Name         string  // label used in stats, e.g. the gateway environment name
	ClientID     string  // the app's client ID ("cs-...")
	ClientSecret string  // the app's client secret: the HS256 key of its JWTs
	Scopes       []Scope // nil = all scopes
	EnforceJTI   bool    // tokens must carry a fresh, never-seen jti and an exp at most 1h away
	UpperCase    bool    // serve status values upper-case (SUCCESSFUL/INPROGRESS) instead of lower-case
	Fault        *Fault  // account-wide fault, nil = none
	Bots         []Bot
}

// Bot is one bot of an account and its publish history.
type Bot struct {
	ID    string // "st-" + UUID
	Name  string
	State State // state of the last job when the simulator starts
	// Percentage is how far along a StateInProgress job is when the simulator starts.
	Percentage int
	// PublishDuration is the time a publish takes from 0 to 100%; 0 means DefaultPublishDuration.
	PublishDuration time.Duration
	// FailPublish makes every publish of this bot end FAILED (one resource FAILED).
	FailPublish bool
	// Republish, when positive, starts another publish this long after one finishes, so the demo
	// keeps moving. For a bot that starts finished, it counts from the simulator's start.
	Republish time.Duration
	// Fault is a per-bot fault, nil = none.
	Fault *Fault
	// AppSecret, when set, is the client secret of a second app linked to this bot only: the bot
	// list serves it in the bot's jwtApps after the account's app, as Kore.ai lists every linked
	// app with its secret in clear. Tests use it as a secret the gateway can know from nowhere
	// else, to prove it never leaves the gateway's decoder.
	AppSecret string
}

// DefaultPublishDuration is how long a publish takes when Bot.PublishDuration is zero.
const DefaultPublishDuration = 60 * time.Second

// Errors returned by the simulator's control methods.
var (
	// ErrUnknownBot: no account has a bot with that ID.
	ErrUnknownBot = errors.New("simulator: unknown bot")
	// ErrUnknownApp: no account has an app with that client ID.
	ErrUnknownApp = errors.New("simulator: unknown app")
)

// Simulator is the Kore.ai stand-in: an http.Handler holding accounts, bots and their jobs,
// faults, rate-limit windows and counters. Build one with New; it is safe for concurrent use.
type Simulator struct {
	now    func() time.Time
	logger *slog.Logger
	done   chan struct{} // closed by Close: releases every wait
	close  sync.Once

	// testHookWait, when set before the first request, is called as a fault's wait begins: tests
	// use it to act on a hung request without sleeping.
	testHookWait func()

	// Set once by New, read-only afterwards.
	accounts map[string]*account    // by client ID
	bots     map[string][]*botState // by bot ID (the same ID may appear in two accounts)
	order    []*account             // configuration order
	pending  []Account              // WithAccounts, until New installs them

	mu          sync.Mutex // guards everything below and the mutable fields of accounts and bots
	global      Fault
	perMinute   int
	perHour     int
	rng         *rand.Rand
	lastClaims  map[string]map[string]any // by client ID
	publishSeqs uint64                    // makes job IDs unique even at one instant

	stats counters
}

// account is an Account plus its mutable state.
type account struct {
	cfg    Account
	scopes map[Scope]bool // nil = all
	bots   map[string]*botState
	list   []*botState // configuration order, for the bot list
	userID string      // createdBy of its jobs

	// guarded by Simulator.mu
	fault      Fault
	seenJTI    map[string]time.Time // jti -> exp, pruned once expired
	jtiPruneAt int                  // prune seenJTI when it reaches this size
	listHits   window
}

// Option configures a Simulator in New.
type Option func(*Simulator)

// WithAccounts sets the accounts the simulator serves. Accounts sharing a client ID are merged
// into the first one (same app, more bots); a bot ID repeated within an account keeps its first
// definition.
func WithAccounts(accts ...Account) Option {
	return func(s *Simulator) {
		s.pending = append(s.pending, accts...)
	}
}

// WithRateLimits sets the rolling per-bot limits (status and publish counted separately, the
// bot list per account); 0 turns a window off. New's default is off.
func WithRateLimits(perMinute, perHour int) Option {
	return func(s *Simulator) { s.perMinute, s.perHour = perMinute, perHour }
}

// WithClock sets the clock that drives job progress, token expiry and rate-limit windows;
// the default is time.Now. Fault latency always waits in real time.
func WithClock(now func() time.Time) Option {
	return func(s *Simulator) {
		if now != nil {
			s.now = now
		}
	}
}

// WithSeed makes jitter and error rates reproducible.
func WithSeed(seed int64) Option {
	return func(s *Simulator) { s.rng = newRand(uint64(seed)) }
}

// WithFault sets the global fault, which applies to every bot and account without their own.
func WithFault(f Fault) Option {
	return func(s *Simulator) { s.global = f }
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(s *Simulator) {
		if l != nil {
			s.logger = l
		}
	}
}

// New builds a simulator. Without WithAccounts it serves no account, so every request is
// refused with 401: use DemoAccounts for the demo data set.
func New(opts ...Option) *Simulator {
	s := &Simulator{
		now:        time.Now,
		logger:     slog.New(slog.DiscardHandler),
		done:       make(chan struct{}),
		accounts:   map[string]*account{},
		bots:       map[string][]*botState{},
		rng:        newRand(rand.Uint64()),
		lastClaims: map[string]map[string]any{},
	}
	s.stats.reset()
	for _, o := range opts {
		o(s)
	}
	s.logger = s.logger.With("component", "simulator")
	// Accounts are installed after every option so that they see the clock whatever the order.
	start := s.now()
	for _, a := range s.pending {
		s.installAccount(a, start)
	}
	s.pending = nil
	return s
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Close releases every request waiting on a Hang or a latency fault: they answer 503, and so do
// later requests that would wait; requests without such a fault are still served. It is
// idempotent. Call it before closing the HTTP server, which waits for its handlers.
func (s *Simulator) Close() {
	s.close.Do(func() { close(s.done) })
}

// SetFault replaces the global fault; the zero Fault removes it.
func (s *Simulator) SetFault(f Fault) {
	_ = s.SetFaults(FaultSet{Global: &f}) // names no account or bot: cannot fail
}

// SetAccountFault replaces the fault of the account whose app has that client ID; the zero Fault
// removes it. It returns an error wrapping ErrUnknownApp if there is no such app.
func (s *Simulator) SetAccountFault(clientID string, f Fault) error {
	return s.SetFaults(FaultSet{Accounts: map[string]Fault{clientID: f}})
}

// SetBotFault replaces the fault of the bot with that ID (in every account that has it); the zero
// Fault removes it. It returns an error wrapping ErrUnknownBot if there is no such bot.
func (s *Simulator) SetBotFault(botID string, f Fault) error {
	return s.SetFaults(FaultSet{Bots: map[string]Fault{botID: f}})
}

// SetRateLimits changes the rolling limits (0 = off). Windows keep their history: Reset forgets it.
func (s *Simulator) SetRateLimits(perMinute, perHour int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perMinute, s.perHour = perMinute, perHour
}

// RateLimits returns the current rolling limits.
func (s *Simulator) RateLimits() (perMinute, perHour int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perMinute, s.perHour
}

// Reset zeroes the counters and forgets rate-limit history, so a benchmark run starts clean. Bots,
// jobs, faults and limits are kept.
func (s *Simulator) Reset() {
	s.stats.reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.order {
		a.listHits = window{}
		for _, b := range a.list {
			b.statusHits, b.publishHits = window{}, window{}
		}
	}
}

// Stats returns a copy of the counters.
func (s *Simulator) Stats() Stats { return s.stats.snapshot() }

// LastClaims returns the claims of the last token verified for that app, to prove in tests what
// the client sent. Numbers are float64, as encoding/json decodes them.
func (s *Simulator) LastClaims(clientID string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.lastClaims[clientID]
	if !ok {
		return nil, false
	}
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out, true
}

// ConnStateHook returns a function to set as http.Server.ConnState: it counts new connections
// in Stats.Connections, which shows whether a client reuses its connections.
func (s *Simulator) ConnStateHook() func(net.Conn, http.ConnState) {
	return func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.stats.connection()
		}
	}
}
