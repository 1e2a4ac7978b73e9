package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. Every error the client returns wraps exactly one of the
// kinds below (except ErrNeverPublished, which is returned as is); callers
// branch with errors.Is and read details with errors.As(err, *Error).
var (
	// ErrNeverPublished means the bot exists but has no publish job (Kore.ai
	// answers 200 with an empty object). It is a result, not a failure.
	ErrNeverPublished = errors.New("bot was never published")
	// ErrInvalidBotID means the bot ID is not a plausible Kore.ai bot ID; no
	// request was made.
	ErrInvalidBotID = errors.New("invalid bot ID")
	// ErrBotNotFound means Kore.ai does not know the bot in this account
	// (it answers 400 "Invalid StreamId", not 404).
	ErrBotNotFound = errors.New("bot not found upstream")
	// ErrUnauthorized means Kore.ai refused the gateway's own credentials (401).
	ErrUnauthorized = errors.New("upstream refused the gateway's credentials")
	// ErrRateLimited means Kore.ai answered 429; Error.RetryAfter says how long
	// to wait when the upstream said so.
	ErrRateLimited = errors.New("upstream rate limit reached")
	// ErrUnavailable means the upstream could not be reached or answered 5xx.
	ErrUnavailable = errors.New("upstream unavailable")
	// ErrTimeout means the call ran out of time.
	ErrTimeout = errors.New("upstream timed out")
	// ErrBadResponse means the upstream answered something unusable: an
	// undecodable body or an unexpected status.
	ErrBadResponse = errors.New("upstream answered unusably")
)

// Error describes one failed upstream call. Its message never contains a
// token or secret.
type Error struct {
	// Kind is one of the sentinel errors of this package.
	Kind error
	// StatusCode is the HTTP status, 0 when no answer arrived.
	StatusCode int
	// Code and Message are Kore.ai's own error code and text, when present.
	Code    int
	Message string
	// RetryAfter is the upstream's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Err is the underlying cause, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.StatusCode)
		if e.Code != 0 {
			fmt.Fprintf(&b, ", code %d", e.Code)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// errorBody is Kore.ai's error envelope. Some pages document "msg", others
// "message": both are accepted.
type errorBody struct {
	Errors []struct {
		Msg     string          `json:"msg"`
		Message string          `json:"message"`
		Code    json.RawMessage `json:"code"`
	} `json:"errors"`
}

// parseErrorBody extracts the first upstream error message and code. The
// message is truncated and stripped of control characters before it is used in
// an error text.
func parseErrorBody(body []byte) (msg string, code int) {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil || len(eb.Errors) == 0 {
		return "", 0
	}
	e := eb.Errors[0]
	msg = e.Msg
	if msg == "" {
		msg = e.Message
	}
	_ = json.Unmarshal(e.Code, &code)
	if code == 0 {
		var s string
		if json.Unmarshal(e.Code, &s) == nil {
			fmt.Sscanf(s, "%d", &code)
		}
	}
	return sanitise(msg), code
}

func sanitise(s string) string {
	const maxLen = 200
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

// StatusError maps a raw upstream answer to the client's typed error (nil for
// 200). It reads and closes nothing but a bounded part of the body; exposed
// for tools that talk to Kore.ai directly (and tests).
func StatusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return statusError(resp, body)
}
