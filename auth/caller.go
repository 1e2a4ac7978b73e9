// Package auth authenticates the callers of the gateway (a JWT in
// Authorization: Bearer, checked by Verifier in Middleware) and authorizes
// what they name: Authorize is the one guard every environment passes
// through, whether a query lists environments, names one, or names a bot in
// one.
package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/publishgate/publishgate/internal/clip"
)

// Sentinel errors; graph maps them to UNAUTHENTICATED and FORBIDDEN.
var (
	// ErrUnauthenticated means no verified caller: no token, or a bad one.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden means the caller may not see what it named. It is the
	// same whether the environment exists or not, so that a restricted
	// caller cannot probe for names.
	ErrForbidden = errors.New("forbidden")
)

// Caller is an authenticated caller and what it was granted.
type Caller struct {
	// Subject is the token's sub (for logs; never a secret).
	Subject string
	// Publish is the publish claim: may the caller start publishes.
	Publish bool
	// all is the "*" grant.
	all bool
	// envs are the environments granted by name.
	envs map[string]bool
}

// NewCaller returns a caller granted environments ("*" grants all).
func NewCaller(subject string, environments []string, publish bool) *Caller {
	c := &Caller{Subject: subject, Publish: publish, envs: make(map[string]bool, len(environments))}
	for _, e := range environments {
		if e == "*" {
			c.all = true
		}
		c.envs[e] = true
	}
	return c
}

// Open is the caller of a gateway without authentication: everything is
// granted (SPEC §4: no auth section means an open gateway).
func Open() *Caller { return &Caller{Subject: "anonymous", Publish: true, all: true} }

// MaySee reports whether the caller was granted the environment env.
func (c *Caller) MaySee(env string) bool { return c != nil && (c.all || c.envs[env]) }

// callerKey is the context key of the Caller.
type callerKey struct{}

// NewContext returns ctx carrying c.
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the caller of ctx, or nil when Middleware did not run.
func FromContext(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// Authorize is the authorization guard: nil when the caller of ctx may see
// the environment named env, an error wrapping ErrForbidden otherwise. It
// answers before anything is looked up, so an unknown name and a forbidden
// one are indistinguishable to a restricted caller. A context without a
// caller is refused (ErrUnauthenticated): nothing is open by omission.
func Authorize(ctx context.Context, env string) error {
	c := FromContext(ctx)
	switch {
	case c == nil:
		return ErrUnauthenticated
	case c.MaySee(env):
		return nil
	}
	return fmt.Errorf("%w: not permitted to see environment %q", ErrForbidden, clip.String(env, 64))
}

// AuthorizePublish returns nil when the caller of ctx holds the publish
// claim and may see env.
func AuthorizePublish(ctx context.Context, env string) error {
	if err := Authorize(ctx, env); err != nil {
		return err
	}
	if !FromContext(ctx).Publish {
		return fmt.Errorf("%w: the token does not grant publishing", ErrForbidden)
	}
	return nil
}

// Visible returns the items whose environment (named by name) the caller of
// ctx may see, in their order.
func Visible[T any](ctx context.Context, items []T, name func(T) string) []T {
	c := FromContext(ctx)
	if c != nil && c.all {
		return items
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		if c.MaySee(name(it)) {
			out = append(out, it)
		}
	}
	return out
}
