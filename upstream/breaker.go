package upstream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// ErrCircuitOpen means the environment's circuit breaker is open (or
// half-open with its probe already in flight): the host failed repeatedly,
// so the call was refused without a request. It comes wrapped in an *Error
// whose Kind is ErrUnavailable, so callers that handle an unavailable host
// (the loader serves stale data, graph answers UPSTREAM_UNAVAILABLE) need
// nothing more.
var ErrCircuitOpen = errors.New("circuit open: the host failed repeatedly and is given time to recover")

// Outcomes the breaker counts neither as a success nor as a failure.
var (
	// errCallerGone marks an attempt cut short because its caller went away.
	errCallerGone = errors.New("caller went away")
	// errRepeatedFailure marks a failure of a request that already failed
	// in the current run: one sick bot (or a retry) is not a sick host.
	errRepeatedFailure = errors.New("same request failed again")
)

// BreakerState is the state of a circuit breaker. Its values are those of
// the publishgate_breaker_state metric.
type BreakerState int

// The breaker states.
const (
	BreakerClosed   BreakerState = 0 // calls go through
	BreakerHalfOpen BreakerState = 1 // one probe goes through; the rest are refused
	BreakerOpen     BreakerState = 2 // every call is refused
)

// String returns "closed", "half-open" or "open".
func (s BreakerState) String() string {
	switch s {
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	default:
		return "closed"
	}
}

// BreakerSettings configure the circuit breaker of a Client (WithBreaker).
type BreakerSettings struct {
	// Failures is the run of consecutive upstream-health failures (5xx,
	// timeouts, connection errors) that opens the breaker, counting each
	// bot once: a bot that fails again, or a retry, does not lengthen the
	// run, so one bot that Kore.ai cannot serve never shuts its whole
	// environment out. 0 means no breaker. Answers that prove the host
	// works, whatever they say (400 Invalid StreamId, 401, 429, an
	// undecodable body), count as successes and end the run.
	Failures int
	// OpenFor is how long the breaker stays open before it lets one probe
	// through (half-open); the probe's success closes it, its failure opens
	// it again. Default 30s.
	OpenFor time.Duration
	// OnStateChange, when set, is called on every transition. A breaker
	// leaves the open state lazily: on the first call or State after OpenFor.
	OnStateChange func(from, to BreakerState)
}

// breaker guards the attempts to one host.
type breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu  sync.Mutex
	run map[string]bool // requests failed since the last success or state change
}

// maxRun bounds the memory of a run; past it the run is forgotten.
const maxRun = 10_000

func newBreaker(name string, s BreakerSettings) *breaker {
	failures := uint32(s.Failures)
	openFor := s.OpenFor
	if openFor <= 0 {
		openFor = 30 * time.Second
	}
	settings := gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsSuccessful: func(err error) bool {
			return err == nil || !healthFailure(err)
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, errCallerGone) || errors.Is(err, errRepeatedFailure)
		},
	}
	b := &breaker{run: map[string]bool{}}
	settings.OnStateChange = func(_ string, from, to gobreaker.State) {
		b.mu.Lock()
		clear(b.run) // a half-open probe counts whatever it asks
		b.mu.Unlock()
		if s.OnStateChange != nil {
			s.OnStateChange(BreakerState(from), BreakerState(to))
		}
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](settings)
	return b
}

// allow asks to make one attempt at key (the request's URL). It returns the
// function to call with the attempt's outcome, or the error to answer at
// once.
func (b *breaker) allow(key string) (done func(ctx context.Context, err error), refused error) {
	report, err := b.cb.Allow()
	if err != nil {
		return nil, &Error{Kind: ErrUnavailable, Err: ErrCircuitOpen}
	}
	return func(ctx context.Context, err error) {
		switch {
		case err != nil && errors.Is(ctx.Err(), context.Canceled):
			err = errCallerGone
		case err == nil || !healthFailure(err):
			b.mu.Lock()
			clear(b.run)
			b.mu.Unlock()
		default:
			b.mu.Lock()
			if b.run[key] {
				err = errRepeatedFailure
			} else {
				if len(b.run) >= maxRun {
					clear(b.run)
				}
				b.run[key] = true
			}
			b.mu.Unlock()
		}
		report(err) // never under b.mu: it may call OnStateChange
	}, nil
}

// state returns the current state, moving from open to half-open when the
// open period has passed.
func (b *breaker) state() BreakerState { return BreakerState(b.cb.State()) }

// healthFailure reports whether err says the host itself is in trouble.
// A deadline counts: a host that hangs is the case the breaker is for.
func healthFailure(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout)
}

// BreakerState returns the state of the client's circuit breaker; always
// BreakerClosed when it has none.
func (c *Client) BreakerState() BreakerState {
	if c.breaker == nil {
		return BreakerClosed
	}
	return c.breaker.state()
}
