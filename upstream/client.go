package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Defaults of a Client.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultConcurrency = 32
	// DefaultMaxBodyBytes caps an answer: statusSummary entries of dialog
	// tasks may carry whole dialogs, so this is generous but bounded.
	DefaultMaxBodyBytes = 8 << 20
	// maxRetryAfter bounds how long a Retry-After may make a retry wait.
	maxRetryAfter = 10 * time.Minute
	// DefaultQueuePerSlot is how many callers may wait for each concurrency
	// slot when WithMaxQueued is not given.
	DefaultQueuePerSlot = 4
	// tracerName names the tracer of the client's spans.
	tracerName = "github.com/publishgate/publishgate/upstream"
)

// Client calls one Kore.ai environment (one host and one account's app).
// It is safe for concurrent use; at most the configured concurrency of
// requests are in flight at once, across all callers.
type Client struct {
	base        string // scheme://host[:port], no trailing slash
	environment string // for spans and the breaker's name
	versioned   bool
	tokens      *tokenSource
	http        *http.Client
	slots       *bulkhead
	breaker     *breaker // nil: no circuit breaker
	timeout     time.Duration
	retries     int
	backoff     time.Duration
	maxBody     int64
	botIDs      BotIDValidator
	now         func() time.Time
	observe     func(context.Context, Observation)
	tracer      trace.Tracer
	concurrency int
	maxQueued   int
	breakerCfg  BreakerSettings
}

// Observation describes one finished upstream attempt, for metrics and
// access logs. Calls refused before any request was made (an open circuit, a
// full queue) are not attempts and are not observed.
type Observation struct {
	StatusCode int // 0 when no answer arrived
	Duration   time.Duration
	Err        error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client; share one built on NewTransport across
// all environments.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithVersionedPath makes the client use /api/1.1/public/.../ instead of the
// default /api/public/....
func WithVersionedPath(v bool) Option { return func(c *Client) { c.versioned = v } }

// WithConcurrency bounds the requests in flight to this environment.
func WithConcurrency(n int) Option {
	return func(c *Client) {
		if n > 0 {
			c.concurrency = n
		}
	}
}

// WithTimeout bounds each attempt; the caller's context bounds the whole call.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithRetries sets how many times a failed idempotent GET is retried on 5xx,
// 429 and connection errors (never on other 4xx), with exponential backoff
// and full jitter starting at base, honouring Retry-After, never past the
// caller's deadline.
func WithRetries(n int, base time.Duration) Option {
	return func(c *Client) {
		if n >= 0 {
			c.retries = n
		}
		if base > 0 {
			c.backoff = base
		}
	}
}

// WithBotIDValidator sets the bot ID check.
func WithBotIDValidator(v BotIDValidator) Option { return func(c *Client) { c.botIDs = v } }

// WithClock sets the clock used for token minting.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithMaxBodyBytes caps the size of an upstream answer.
func WithMaxBodyBytes(n int64) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxBody = n
		}
	}
}

// WithObserver is called after every attempt (for metrics), with the
// context of the call that made it (for per-request counts).
func WithObserver(f func(context.Context, Observation)) Option {
	return func(c *Client) { c.observe = f }
}

// WithEnvironment names the environment the client serves, in its spans and
// its circuit breaker.
func WithEnvironment(name string) Option { return func(c *Client) { c.environment = name } }

// WithMaxQueued bounds how many callers may wait for a concurrency slot;
// beyond it a call fails at once with ErrQueueFull (a bulkhead: a hanging
// host cannot pile up goroutines and memory). 0 means DefaultQueuePerSlot
// times the concurrency.
func WithMaxQueued(n int) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxQueued = n
		}
	}
}

// WithBreaker puts a circuit breaker in front of the host (see
// BreakerSettings); without it every call is attempted.
func WithBreaker(s BreakerSettings) Option { return func(c *Client) { c.breakerCfg = s } }

// WithTracerProvider makes the client record a span per call and per
// attempt (default: none).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *Client) {
		if tp != nil {
			c.tracer = tp.Tracer(tracerName)
		}
	}
}

// New returns a client for the Kore.ai host (e.g. https://bots.kore.ai).
func New(host string, creds Credentials, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(host))
	if err != nil {
		return nil, fmt.Errorf("upstream host: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("upstream host %q: want scheme://host[:port] with no path, query or credentials", u.Redacted())
	}
	c := &Client{
		base:        u.Scheme + "://" + u.Host,
		http:        &http.Client{Transport: NewTransport(DefaultConcurrency)},
		timeout:     DefaultTimeout,
		backoff:     100 * time.Millisecond,
		maxBody:     DefaultMaxBodyBytes,
		now:         time.Now,
		concurrency: DefaultConcurrency,
		tracer:      noop.NewTracerProvider().Tracer(tracerName),
	}
	for _, o := range opts {
		o(c)
	}
	if c.maxQueued == 0 {
		c.maxQueued = DefaultQueuePerSlot * c.concurrency
	}
	c.slots = newBulkhead(c.concurrency, c.maxQueued)
	if c.breakerCfg.Failures > 0 {
		c.breaker = newBreaker(c.environment, c.breakerCfg)
	}
	c.tokens, err = newTokenSource(creds, c.now)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// NewTransport returns an http.Transport tuned for many concurrent requests
// to a handful of hosts: Go's default keeps only 2 idle connections per host,
// which makes a batch of N requests open N-2 new connections every time.
// idlePerHost should be the largest environment concurrency.
func NewTransport(idlePerHost int) *http.Transport {
	if idlePerHost < 2 {
		idlePerHost = 2
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no overall cap: per host is the bound (a cap dropped the connections of the 17th host on)
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Concurrency is the number of requests this client lets run at once.
func (c *Client) Concurrency() int { return c.concurrency }

// ValidBotID reports whether id passes this client's bot ID check.
func (c *Client) ValidBotID(id string) bool { return c.botIDs.Valid(id) }

// StatusURL is the publish-status URL of a bot. The ID must have passed
// ValidBotID; it is path-escaped all the same.
func (c *Client) StatusURL(botID string) string {
	if c.versioned {
		return c.base + "/api/1.1/public/bot/" + url.PathEscape(botID) + "/publish/status/"
	}
	return c.base + "/api/public/bot/" + url.PathEscape(botID) + "/publish/status"
}

// PublishStatus returns the current or last publish job of a bot. A bot that
// was never published yields ErrNeverPublished; every failure is an *Error
// wrapping one of the package's sentinel errors.
func (c *Client) PublishStatus(ctx context.Context, botID string) (job *Job, err error) {
	if !c.botIDs.Valid(botID) {
		return nil, &Error{Kind: ErrInvalidBotID}
	}
	ctx, span := c.tracer.Start(ctx, "kore.publishStatus", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("publishgate.environment", c.environment), attribute.String("publishgate.bot_id", botID)))
	defer func() { endSpan(span, err) }()
	if err := c.slots.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.slots.release()

	target := c.StatusURL(botID)
	var lastErr error
	for attempt := 0; ; attempt++ {
		body, err := c.get(ctx, target)
		if err == nil {
			return DecodeJob(body)
		}
		lastErr = err
		if attempt >= c.retries || !retryable(err) {
			return nil, lastErr
		}
		if !c.wait(ctx, attempt, err) || !retryAllowed(ctx) {
			return nil, lastErr
		}
	}
}

// get performs one attempt, through the circuit breaker, and returns the
// body of a 200 answer.
func (c *Client) get(parent context.Context, target string) (body []byte, err error) {
	if c.breaker != nil {
		done, refused := c.breaker.allow(target)
		if refused != nil {
			return nil, refused
		}
		defer func() { done(parent, err) }()
	}
	ctx, span := c.tracer.Start(parent, "GET", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("http.request.method", http.MethodGet), attribute.String("url.full", target)))
	defer func() { endSpan(span, err) }()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	token, err := c.tokens.Token()
	if err != nil {
		return nil, &Error{Kind: ErrUnauthorized, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, &Error{Kind: ErrBadResponse, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("auth", token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "publishgate")

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		err = transportError(ctx, err)
		c.report(parent, 0, start, err)
		return nil, err
	}
	defer resp.Body.Close()
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	body, err = io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	// Drain what is left (bounded) so the connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	if err != nil {
		err = transportError(ctx, err)
		c.report(parent, resp.StatusCode, start, err)
		return nil, err
	}
	if int64(len(body)) > c.maxBody {
		err = &Error{Kind: ErrBadResponse, StatusCode: resp.StatusCode, Err: fmt.Errorf("answer larger than %d bytes", c.maxBody)}
		c.report(parent, resp.StatusCode, start, err)
		return nil, err
	}
	err = statusError(resp, body)
	c.report(parent, resp.StatusCode, start, err)
	if err != nil {
		return nil, err
	}
	return body, nil
}

func (c *Client) report(ctx context.Context, status int, start time.Time, err error) {
	if c.observe != nil {
		c.observe(ctx, Observation{StatusCode: status, Duration: time.Since(start), Err: err})
	}
}

// endSpan records the outcome of a call or an attempt on its span.
func endSpan(span trace.Span, err error) {
	if err != nil && !errors.Is(err, ErrNeverPublished) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// statusError maps a non-200 answer to a typed error (SPEC §1.1).
func statusError(resp *http.Response, body []byte) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	msg, code := parseErrorBody(body)
	e := &Error{StatusCode: resp.StatusCode, Code: code, Message: msg}
	switch {
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "invalid streamid"):
		e.Kind = ErrBotNotFound
	case resp.StatusCode == http.StatusNotFound:
		e.Kind = ErrBotNotFound
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.Kind = ErrUnauthorized
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Kind = ErrRateLimited
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusGatewayTimeout:
		e.Kind = ErrTimeout
	case resp.StatusCode >= 500:
		e.Kind = ErrUnavailable
	default:
		e.Kind = ErrBadResponse
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// transportError classifies a failure before or while reading an answer.
func transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(ctx, ctxErr)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: ErrTimeout, Err: err}
	}
	return &Error{Kind: ErrUnavailable, Err: err}
}

// contextError turns a context failure into a typed error. A deadline is a
// timeout; a cancellation (the caller went away) is reported as such.
func contextError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return &Error{Kind: ErrTimeout, Err: context.DeadlineExceeded}
	}
	return &Error{Kind: ErrUnavailable, Err: err}
}

func retryable(err error) bool {
	if errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrQueueFull) {
		return false // refused here: no request was made, and none would be
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited) ||
		(errors.Is(err, ErrTimeout) && !errors.Is(err, context.DeadlineExceeded))
}

// wait sleeps before the next attempt: full jitter over an exponential
// backoff, or the upstream's Retry-After when longer. It returns false without
// waiting when the caller's deadline would pass first.
func (c *Client) wait(ctx context.Context, attempt int, err error) bool {
	ceiling := c.backoff << attempt
	d := time.Duration(rand.Int64N(int64(ceiling) + 1))
	var ue *Error
	if errors.As(err, &ue) && ue.RetryAfter > d {
		d = ue.RetryAfter
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
