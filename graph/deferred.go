package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// nextDeferred waits for the next @defer fragment's result, or for the end
// of the request (false).
//
// gqlgen's generated Exec counts the fragments it started and waits for
// that many results; a fragment whose request ends first (the client went
// away, the request timed out) drops its result instead of sending it
// (graphql.ExecutionContextState.ProcessDeferredGroup), so the plain
// channel receive gqlgen generates would wait forever: the handler, its
// connection and a graceful shutdown with it. graph/generated.go calls
// nextDeferred instead: `go generate` rewrites the receive after gqlgen runs
// (internal/genpatch).
func nextDeferred(ctx context.Context, results <-chan graphql.DeferredResult) (graphql.DeferredResult, bool) {
	select {
	case r := <-results:
		return r, true
	case <-ctx.Done():
		return graphql.DeferredResult{}, false
	}
}
