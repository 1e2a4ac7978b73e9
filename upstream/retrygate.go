package upstream

import "context"

type retryGateKey struct{}

// WithRetryGate returns a context under which PublishStatus calls gate
// before every retry: an error (such as a spent budget) ends the call with
// the failure of the try before, and no further request is sent. A retry is
// a request to Kore.ai like the first, so it must spend the bot's budget
// like the first did.
func WithRetryGate(ctx context.Context, gate func(context.Context) error) context.Context {
	return context.WithValue(ctx, retryGateKey{}, gate)
}

// retryAllowed asks the context's retry gate, if any.
func retryAllowed(ctx context.Context) bool {
	gate, ok := ctx.Value(retryGateKey{}).(func(context.Context) error)
	return !ok || gate(ctx) == nil
}
