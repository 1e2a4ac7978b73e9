// Package publish starts publishes of bots for the publishBot mutation: it
// checks the caller's publish claim, deduplicates repeats by idempotency key
// (across replicas through Redis when configured), calls Kore.ai's publish
// API, reads the new job, tells the live hub, and writes one audit line per
// attempt (who, which bot, when, result).
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/publishgate/publishgate/auth"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/loader"
	"github.com/publishgate/publishgate/upstream"
)

// Sentinel errors; graph maps them to BAD_USER_INPUT.
var (
	// ErrBadRequest means the request cannot be sent (e.g. no version comment).
	ErrBadRequest = errors.New("bad publish request")
	// ErrKeyReused means an idempotency key was reused for another bot.
	ErrKeyReused = errors.New("idempotency key already used for another bot")
)

// KeyTTL is how long a publish answer is kept under its idempotency key.
const KeyTTL = 10 * time.Minute

// maxCommentLen bounds the version comment sent upstream.
const maxCommentLen = 1000

// Starter starts a publish in one environment; *upstream.Client implements it.
type Starter interface {
	Publish(ctx context.Context, botID, versionComment string, initiateTraining bool) ([]upstream.PublishedResource, error)
}

// Loader reads jobs; *loader.Source implements it.
type Loader interface {
	Load(ctx context.Context, keys []loader.Key) []loader.Outcome
}

// Request is one publishBot call.
type Request struct {
	Environment      string
	BotID            string
	VersionComment   string
	InitiateTraining bool
	// IdempotencyKey makes a repeat within KeyTTL return the first answer.
	IdempotencyKey string
}

// Publisher starts publishes.
type Publisher struct {
	starters map[string]Starter
	jobs     Loader
	store    Store
	fallback Store
	observe  func(loader.Key, loader.Outcome)
	log      *slog.Logger
	now      func() time.Time
	poll     time.Duration
}

// Option configures a Publisher.
type Option func(*Publisher)

// WithObserver is told the new job of every publish started (the live hub,
// so that subscribers see it at once).
func WithObserver(f func(loader.Key, loader.Outcome)) Option {
	return func(p *Publisher) { p.observe = f }
}

// WithLogger sets the logger of the audit lines.
func WithLogger(l *slog.Logger) Option { return func(p *Publisher) { p.log = l } }

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(p *Publisher) { p.now = now } }

// New returns a Publisher over the starters of each environment, reading new
// jobs through jobs and keeping idempotency keys in store (nil: in process).
func New(starters map[string]Starter, jobs Loader, store Store, opts ...Option) *Publisher {
	p := &Publisher{starters: starters, jobs: jobs, store: store, log: slog.New(slog.DiscardHandler), now: time.Now, poll: 50 * time.Millisecond}
	for _, o := range opts {
		o(p)
	}
	p.fallback = NewMemoryStore(p.now)
	if p.store == nil {
		p.store = p.fallback
	}
	p.log = p.log.With("component", "audit")
	return p
}

// Publish starts a publish of req's bot and returns its new job. The caller
// of ctx needs the publish claim (auth.AuthorizePublish; refused with
// auth.ErrForbidden before anything reaches Kore.ai). With an idempotency
// key, a repeat by the same caller returns the first answer without
// publishing again, and a concurrent repeat waits for it.
func (p *Publisher) Publish(ctx context.Context, req Request) (res loader.Result, err error) {
	who := "unknown"
	if c := auth.FromContext(ctx); c != nil {
		who = c.Subject
	}
	outcome := "started"
	defer func() {
		attrs := []any{"who", who, "environment", req.Environment, "bot", req.BotID, "at", p.now().UTC(), "result", outcome}
		if res.Job != nil {
			attrs = append(attrs, "job", res.Job.ID)
		}
		if req.IdempotencyKey != "" {
			attrs = append(attrs, "idempotencyKey", shortHash(req.IdempotencyKey))
		}
		if err != nil {
			attrs = append(attrs, "err", err.Error())
		}
		p.log.InfoContext(ctx, "publishBot", attrs...)
	}()
	if err := auth.AuthorizePublish(ctx, req.Environment); err != nil {
		outcome = "refused"
		return loader.Result{}, err
	}
	starter, ok := p.starters[req.Environment]
	if !ok {
		outcome = "refused"
		return loader.Result{}, fmt.Errorf("%w %q", catalog.ErrUnknownEnvironment, req.Environment)
	}
	comment := strings.TrimSpace(req.VersionComment)
	if comment == "" || len(comment) > maxCommentLen {
		outcome = "refused"
		return loader.Result{}, fmt.Errorf("%w: versionComment must be 1 to %d characters", ErrBadRequest, maxCommentLen)
	}
	if req.IdempotencyKey == "" {
		res, err = p.start(ctx, starter, req, comment)
		if err != nil {
			outcome = "failed"
		}
		return res, err
	}

	key := storeKey(who, req.IdempotencyKey)
	store := p.store
	for {
		a, claimed, err := store.Claim(ctx, key, KeyTTL)
		if err != nil && store != p.fallback {
			// Redis is down: deduplicate within this replica rather than fail.
			p.log.WarnContext(ctx, "idempotency store unavailable; keys kept in process", "err", err)
			store = p.fallback
			continue
		}
		if err != nil {
			outcome = "failed"
			return loader.Result{}, err
		}
		if claimed {
			res, err = p.start(ctx, starter, req, comment)
			if err != nil {
				outcome = "failed"
				_ = store.Abandon(context.WithoutCancel(ctx), key)
				return loader.Result{}, err
			}
			_ = store.Complete(context.WithoutCancel(ctx), key, Answer{Environment: req.Environment, BotID: req.BotID, Job: res.Job, FetchedAt: res.FetchedAt}, KeyTTL)
			return res, nil
		}
		if !a.Pending {
			if a.Environment != req.Environment || a.BotID != req.BotID {
				outcome = "refused"
				return loader.Result{}, ErrKeyReused
			}
			outcome = "replayed"
			return loader.Result{Job: a.Job, FetchedAt: a.FetchedAt, FromCache: true}, nil
		}
		// The first request is still publishing: wait for its answer.
		t := time.NewTimer(p.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			outcome = "failed"
			return loader.Result{}, ctx.Err()
		case <-t.C:
		}
	}
}

// start calls Kore.ai, then reads the new job past the cache and hands it to
// the observer.
func (p *Publisher) start(ctx context.Context, s Starter, req Request, comment string) (loader.Result, error) {
	if _, err := s.Publish(ctx, req.BotID, comment, req.InitiateTraining); err != nil {
		return loader.Result{}, err
	}
	k := loader.Key{Environment: req.Environment, BotID: req.BotID, Refresh: true}
	o := p.jobs.Load(ctx, []loader.Key{k})[0]
	if o.Err != nil {
		return loader.Result{}, fmt.Errorf("the publish started but its status could not be read: %w", o.Err)
	}
	if p.observe != nil {
		p.observe(k, o)
	}
	return o.Result, nil
}

// storeKey scopes a caller's idempotency key to that caller, so one caller
// cannot read another's answer by guessing its key.
func storeKey(who, key string) string {
	h := sha256.Sum256([]byte(who + "\x00" + key))
	return hex.EncodeToString(h[:])
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}
