package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Fault injects misbehaviour into the answers of an account, a bot or the whole simulator. The
// zero value is no fault. A bot's fault replaces its account's, which replaces the global one:
// the most specific non-zero Fault applies whole, fields are not merged.
//
// In JSON (the /_simulator/faults endpoint) durations are Go duration strings such as "50ms" and
// field names are lower camel case: latency, jitter, errorRate, errorStatus, rateLimited,
// retryAfter, hang, malformed.
type Fault struct {
	Latency     time.Duration // added to every answer past authentication
	Jitter      time.Duration // plus a uniform random delay in [0, Jitter)
	ErrorRate   float64       // probability, 0-1, of answering ErrorStatus instead
	ErrorStatus int           // a 5xx status, 500 when 0
	RateLimited bool          // always answer 429
	RetryAfter  time.Duration // Retry-After of those 429s, rounded up to seconds; 0 = header absent
	Hang        bool          // never answer until the client goes away or the simulator closes
	Malformed   bool          // answer 200 with a truncated JSON body instead of the real answer
}

// IsZero reports whether f injects nothing.
func (f Fault) IsZero() bool { return f == Fault{} }

// status is the error status f answers with.
func (f Fault) status() int {
	if f.ErrorStatus >= 500 && f.ErrorStatus <= 599 {
		return f.ErrorStatus
	}
	return 500
}

type faultJSON struct {
	Latency     string  `json:"latency,omitempty"`
	Jitter      string  `json:"jitter,omitempty"`
	ErrorRate   float64 `json:"errorRate,omitempty"`
	ErrorStatus int     `json:"errorStatus,omitempty"`
	RateLimited bool    `json:"rateLimited,omitempty"`
	RetryAfter  string  `json:"retryAfter,omitempty"`
	Hang        bool    `json:"hang,omitempty"`
	Malformed   bool    `json:"malformed,omitempty"`
}

// MarshalJSON writes f with durations as Go duration strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	d := func(v time.Duration) string {
		if v == 0 {
			return ""
		}
		return v.String()
	}
	return json.Marshal(faultJSON{
		Latency: d(f.Latency), Jitter: d(f.Jitter), ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus,
		RateLimited: f.RateLimited, RetryAfter: d(f.RetryAfter), Hang: f.Hang, Malformed: f.Malformed,
	})
}

// UnmarshalJSON reads f, refusing unknown fields (a misspelt fault would silently do nothing),
// negative or unparsable durations, an error rate outside [0, 1] and a status that is not 5xx.
func (f *Fault) UnmarshalJSON(data []byte) error {
	var in faultJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	var out Fault
	var errs []error
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"latency", in.Latency, &out.Latency}, {"jitter", in.Jitter, &out.Jitter}, {"retryAfter", in.RetryAfter, &out.RetryAfter}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil || v < 0 {
			errs = append(errs, fmt.Errorf("fault: %s: want a non-negative duration such as \"50ms\", got %q", d.name, d.in))
		}
		*d.out = v
	}
	if in.ErrorRate < 0 || in.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("fault: errorRate: want 0 to 1, got %v", in.ErrorRate))
	}
	if in.ErrorStatus != 0 && (in.ErrorStatus < 500 || in.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("fault: errorStatus: want a 5xx status, got %d", in.ErrorStatus))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	out.ErrorRate, out.ErrorStatus = in.ErrorRate, in.ErrorStatus
	out.RateLimited, out.Hang, out.Malformed = in.RateLimited, in.Hang, in.Malformed
	*f = out
	return nil
}

// faultDecision is a fault with its random draws made.
type faultDecision struct {
	Fault
	delay time.Duration
	fail  bool // answer ErrorStatus
}

// decideFault picks the fault for a request of account a about bot b (nil when the route names
// no bot of a) and draws its randomness.
func (s *Simulator) decideFault(a *account, b *botState) faultDecision {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.global
	if !a.fault.IsZero() {
		f = a.fault
	}
	if b != nil && !b.fault.IsZero() {
		f = b.fault
	}
	d := faultDecision{Fault: f, delay: f.Latency}
	if f.Jitter > 0 {
		d.delay += time.Duration(s.rng.Int64N(int64(f.Jitter)))
	}
	if f.ErrorRate > 0 {
		d.fail = s.rng.Float64() < f.ErrorRate
	}
	return d
}

// waitOutcome is why a fault's wait ended.
type waitOutcome int

const (
	waitElapsed  waitOutcome = iota // the delay passed
	waitCanceled                    // the client went away
	waitClosed                      // the simulator was closed
)

// wait blocks for d (forever when d < 0) or until the request's context ends or Close is called.
func (s *Simulator) wait(ctx context.Context, d time.Duration) waitOutcome {
	if d < 0 { // a Hang: counted while it holds the request (Stats.Held)
		s.stats.held.Add(1)
		defer s.stats.held.Add(-1)
	}
	if s.testHookWait != nil {
		s.testHookWait()
	}
	var elapsed <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	select {
	case <-elapsed:
		return waitElapsed
	case <-ctx.Done():
		return waitCanceled
	case <-s.done:
		return waitClosed
	}
}

// applyFault carries out the parts of d that happen before the route's own checks. It returns
// false when it has answered (or the client is gone) and the handler must stop.
func (s *Simulator) applyFault(x *exchange, d faultDecision) bool {
	if d.delay > 0 && !s.waitFor(x, d.delay) {
		return false
	}
	if d.Hang && !s.waitFor(x, -1) {
		return false
	}
	if d.RateLimited {
		x.fail(tooManyRequests(d.RetryAfter))
		return false
	}
	if d.fail {
		x.fail(serverError(d.status()))
		return false
	}
	return true
}

// waitFor waits as wait does and answers the request if the wait did not simply elapse.
func (s *Simulator) waitFor(x *exchange, d time.Duration) bool {
	switch s.wait(x.r.Context(), d) {
	case waitCanceled:
		x.abandon()
		return false
	case waitClosed:
		x.fail(serverError(503))
		return false
	}
	return true
}

// malformedBody is a 200 body no JSON decoder accepts: a job cut off mid-value.
const malformedBody = `{"_id": "ds-1", "status": `
