package budget

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Local is the in-process Budget, used without Redis (and by the Redis
// budget while Redis is unreachable).
type Local struct {
	limits func(env string) Limits
	now    func() time.Time

	mu       sync.Mutex
	buckets  map[string]*rate.Limiter
	backoffs map[string]time.Time
}

// NewLocal returns an in-process budget; limits gives each environment's.
func NewLocal(limits func(env string) Limits) *Local {
	return &Local{limits: limits, now: time.Now, buckets: map[string]*rate.Limiter{}, backoffs: map[string]time.Time{}}
}

// Allow implements Budget.
func (l *Local) Allow(_ context.Context, env, bot string) error {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if until, ok := l.backoffs[env+"\x00"+bot]; ok {
		if now.Before(until) {
			return Denied("Kore.ai 429 back-off", until.Sub(now))
		}
		delete(l.backoffs, env+"\x00"+bot)
	}
	botW, envW := l.limits(env).windows()
	var reservations []*rate.Reservation
	check := func(key string, w window) error {
		lim := l.bucket(key, w)
		r := lim.ReserveN(now, 1)
		if d := r.DelayFrom(now); !r.OK() || d > 0 {
			r.CancelAt(now)
			return Denied(w.name, d)
		}
		reservations = append(reservations, r)
		return nil
	}
	for _, w := range botW {
		if err := check(env+"\x00"+bot+"\x00"+w.name, w); err != nil {
			l.cancel(reservations, now)
			return err
		}
	}
	for _, w := range envW {
		if err := check(env+"\x00"+w.name, w); err != nil {
			l.cancel(reservations, now)
			return err
		}
	}
	l.gc(now)
	return nil
}

func (l *Local) cancel(rs []*rate.Reservation, now time.Time) {
	for _, r := range rs {
		r.CancelAt(now)
	}
}

func (l *Local) bucket(key string, w window) *rate.Limiter {
	if b, ok := l.buckets[key]; ok {
		return b
	}
	burst, perPeriod := w.bucket()
	b := rate.NewLimiter(rate.Every(w.period/time.Duration(perPeriod)), burst)
	l.buckets[key] = b
	return b
}

// gc bounds memory: buckets that are full again hold no information.
func (l *Local) gc(now time.Time) {
	const maxBuckets = 200_000
	if len(l.buckets) < maxBuckets {
		return
	}
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(l.buckets, k)
		}
	}
}

// Backoff implements Budget.
func (l *Local) Backoff(_ context.Context, env, bot string, d time.Duration) {
	if d <= 0 {
		d = DefaultBackoff
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	until := l.now().Add(d)
	if cur, ok := l.backoffs[env+"\x00"+bot]; !ok || until.After(cur) {
		l.backoffs[env+"\x00"+bot] = until
	}
}
