package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/publishgate/publishgate/auth"
	"github.com/publishgate/publishgate/catalog"
	"github.com/publishgate/publishgate/live"
	"github.com/publishgate/publishgate/publish"
	"github.com/publishgate/publishgate/upstream"
)

// Error codes of SPEC §2, carried in extensions.code.
const (
	CodeUnauthenticated     = "UNAUTHENTICATED"
	CodeForbidden           = "FORBIDDEN"
	CodeBadUserInput        = "BAD_USER_INPUT"
	CodeNotFound            = "NOT_FOUND"
	CodeQueryTooComplex     = "QUERY_TOO_COMPLEX"
	CodeUpstreamTimeout     = "UPSTREAM_TIMEOUT"
	CodeUpstreamUnavailable = "UPSTREAM_UNAVAILABLE"
	CodeUpstreamRateLimited = "UPSTREAM_RATE_LIMITED"
	CodeUpstreamUnauth      = "UPSTREAM_UNAUTHORIZED"
	CodeUpstreamBadResponse = "UPSTREAM_BAD_RESPONSE"
	CodeInternal            = "INTERNAL"
)

// ErrBadInput marks an error the caller can fix (BAD_USER_INPUT).
var ErrBadInput = errors.New("bad input")

// BotError is a failure about one bot; the presenter adds its environment and
// bot ID to the error's extensions.
type BotError struct {
	Environment string
	BotID       string
	Err         error
}

// Error implements error.
func (e *BotError) Error() string {
	return fmt.Sprintf("%s/%s: %s", e.Environment, e.BotID, describe(e.Err))
}

// Unwrap returns the cause.
func (e *BotError) Unwrap() error { return e.Err }

// Code returns the SPEC error code for err.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, auth.ErrUnauthenticated):
		return CodeUnauthenticated
	case errors.Is(err, auth.ErrForbidden):
		return CodeForbidden
	case errors.Is(err, ErrBadInput), errors.Is(err, upstream.ErrInvalidBotID),
		errors.Is(err, publish.ErrBadRequest), errors.Is(err, publish.ErrKeyReused),
		errors.Is(err, live.ErrTooManyRefs), errors.Is(err, live.ErrTooManySubscriptions):
		return CodeBadUserInput
	case errors.Is(err, catalog.ErrUnknownEnvironment), errors.Is(err, upstream.ErrBotNotFound):
		return CodeNotFound
	case errors.Is(err, upstream.ErrUnauthorized):
		return CodeUpstreamUnauth
	case errors.Is(err, upstream.ErrRateLimited):
		return CodeUpstreamRateLimited
	case errors.Is(err, upstream.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return CodeUpstreamTimeout
	case errors.Is(err, upstream.ErrUnavailable), errors.Is(err, live.ErrClosed):
		return CodeUpstreamUnavailable
	case errors.Is(err, upstream.ErrBadResponse):
		return CodeUpstreamBadResponse
	}
	return CodeInternal
}

// describe is the client-facing text of an error: precise, and never a
// secret (upstream errors carry no token; unknown errors are not shown).
func describe(err error) string {
	var ue *upstream.Error
	switch Code(err) {
	case CodeInternal:
		return "internal error"
	case CodeUpstreamTimeout:
		return "Kore.ai did not answer in time"
	case CodeUpstreamUnavailable:
		switch {
		case errors.Is(err, upstream.ErrCircuitOpen):
			return "Kore.ai failed repeatedly in this environment; calls are paused while it recovers (circuit open)"
		case errors.Is(err, upstream.ErrQueueFull):
			return "too many lookups are already waiting for this Kore.ai environment"
		}
		if errors.As(err, &ue) && ue.StatusCode != 0 {
			return fmt.Sprintf("Kore.ai is unavailable (HTTP %d)", ue.StatusCode)
		}
		return "Kore.ai could not be reached"
	case CodeUpstreamRateLimited:
		if errors.As(err, &ue) && ue.RetryAfter > 0 {
			return fmt.Sprintf("Kore.ai rate limit reached; retry after %ds", retryAfterSeconds(err))
		}
		return "Kore.ai rate limit reached"
	case CodeUpstreamUnauth:
		return "Kore.ai refused the gateway's credentials for this environment"
	case CodeUpstreamBadResponse:
		if errors.As(err, &ue) && ue.StatusCode != 0 && ue.StatusCode != 200 {
			return fmt.Sprintf("Kore.ai answered unexpectedly (HTTP %d)", ue.StatusCode)
		}
		return "Kore.ai answered with a body that could not be decoded"
	case CodeNotFound:
		if errors.Is(err, upstream.ErrBotNotFound) {
			return "Kore.ai does not know this bot in this environment"
		}
	}
	var be *BotError
	if errors.As(err, &be) {
		return describe(be.Err)
	}
	return err.Error()
}

func retryAfterSeconds(err error) int {
	var ue *upstream.Error
	if errors.As(err, &ue) && ue.RetryAfter > 0 {
		return int(math.Ceil(ue.RetryAfter.Seconds()))
	}
	return 0
}

// ErrorPresenter is the one place where errors become GraphQL errors: it sets
// extensions.code (and environment, botId, retryAfterSeconds where they
// apply), maps gqlgen's own codes onto the SPEC's, and hides and logs what is
// internal.
func ErrorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Produced by gqlgen itself (parse, validation, limits).
			out := *gqlErr
			out.Extensions = cloneExt(gqlErr.Extensions)
			switch out.Extensions["code"] {
			case errcode.ValidationFailed, errcode.ParseFailed, "", nil:
				out.Extensions["code"] = CodeBadUserInput
			case "COMPLEXITY_LIMIT_EXCEEDED":
				out.Extensions["code"] = CodeQueryTooComplex
			}
			return &out
		}
		out := &gqlerror.Error{Err: err}
		cause := err
		if gqlErr != nil {
			out.Path, out.Locations, cause = gqlErr.Path, gqlErr.Locations, gqlErr.Err
			out.Extensions = cloneExt(gqlErr.Extensions)
		}
		if out.Path == nil {
			out.Path = graphql.GetPath(ctx)
		}
		if out.Extensions == nil {
			out.Extensions = map[string]any{}
		}
		code := Code(cause)
		out.Extensions["code"] = code
		out.Message = describe(cause)
		var be *BotError
		if errors.As(cause, &be) {
			out.Extensions["environment"] = be.Environment
			out.Extensions["botId"] = be.BotID
			out.Message = be.Error()
		}
		if code == CodeUpstreamRateLimited {
			out.Extensions["retryAfterSeconds"] = retryAfterSeconds(cause)
		}
		if code == CodeInternal {
			logger.ErrorContext(ctx, "internal error", "path", out.Path.String(), "err", cause)
			out.Message = "internal error"
		}
		return out
	}
}

func cloneExt(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+3)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// errPanic is what a recovered panic becomes; it is presented as INTERNAL.
var errPanic = errors.New("panic in resolver")

// RecoverFunc turns a panic into an INTERNAL error and a log line with the
// stack; the process keeps serving.
func RecoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic while resolving", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errPanic
	}
}
