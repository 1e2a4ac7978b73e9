package graph

import (
	"context"
	"runtime"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/publishgate/publishgate/loader"
)

// How lists of objects are marshalled.
//
// gqlgen marshals every element of a list of objects in a goroutine of its
// own (graphql.MarshalSliceConcurrently), so that resolvers of different
// elements can wait for one dataloader batch together. For a warm 100-bot
// query that is 100 goroutines whose stacks grow as they descend through
// the generated code: a profile put a fifth of the query's CPU in stack
// growth alone. Most lists do not need it:
//
//   - elements whose fields are all plain data (ResourceStatus) never wait:
//     they are marshalled in order, on the caller's goroutine;
//   - a list of bots whose resolver has already loaded every job the
//     elements will ask for (loader.Preload, see markSettled) waits for
//     nothing either: its elements are marshalled in order by one goroutine
//     per processor;
//   - any other list keeps gqlgen's goroutine per element.
//
// graph/generated.go calls marshalList where gqlgen writes
// graphql.MarshalSliceConcurrently: `go generate` rewrites the call after
// gqlgen runs (internal/genpatch).

// dataOnly names the object types whose fields never resolve anything:
// marshalling one never waits.
var dataOnly = map[string]bool{
	"ResourceStatus": true,
	// Introspection (the Playground's schema query).
	"__Type": true, "__Field": true, "__InputValue": true, "__EnumValue": true, "__Directive": true,
}

// minChunk is the fewest elements worth a goroutine of their own.
const minChunk = 16

// marshalList has the signature of graphql.MarshalSliceConcurrently, which
// it calls for lists that may wait on one another.
func marshalList(ctx context.Context, n int, workerLimit int64, omitPanicHandler bool, marshal func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	if n < 2 {
		return graphql.MarshalSliceConcurrently(ctx, n, workerLimit, omitPanicHandler, marshal)
	}
	fc := graphql.GetFieldContext(ctx)
	switch {
	case fc == nil:
		return graphql.MarshalSliceConcurrently(ctx, n, workerLimit, omitPanicHandler, marshal)
	case fc.Field.Definition != nil && dataOnly[fc.Field.Definition.Type.Name()]:
		ret := make(graphql.Array, n)
		marshalRange(ctx, ret, 0, n, omitPanicHandler, marshal)
		return ret
	case settled(ctx, fc):
		return marshalChunked(ctx, n, omitPanicHandler, marshal)
	default:
		return graphql.MarshalSliceConcurrently(ctx, n, workerLimit, omitPanicHandler, marshal)
	}
}

// marshalChunked marshals n elements in contiguous chunks, one goroutine per
// processor, each chunk in order.
func marshalChunked(ctx context.Context, n int, omitPanicHandler bool, marshal func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, n)
	chunks := min(runtime.GOMAXPROCS(0), (n+minChunk-1)/minChunk)
	if chunks <= 1 {
		marshalRange(ctx, ret, 0, n, omitPanicHandler, marshal)
		return ret
	}
	size := (n + chunks - 1) / chunks
	var wg sync.WaitGroup
	for from := size; from < n; from += size {
		wg.Go(func() { marshalRange(ctx, ret, from, min(from+size, n), omitPanicHandler, marshal) })
	}
	marshalRange(ctx, ret, 0, size, omitPanicHandler, marshal)
	wg.Wait()
	return ret
}

// marshalRange marshals elements [from, to) into ret, each with the field
// context gqlgen gives it (its index), a panic in one becoming that
// element's error and null as in gqlgen.
func marshalRange(ctx context.Context, ret graphql.Array, from, to int, omitPanicHandler bool, marshal func(ctx context.Context, i int) graphql.Marshaler) {
	for i := from; i < to; i++ {
		childCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		if omitPanicHandler {
			ret[i] = marshal(childCtx, i)
			continue
		}
		ret[i] = marshalRecovering(childCtx, i, marshal)
	}
}

func marshalRecovering(ctx context.Context, i int, marshal func(ctx context.Context, i int) graphql.Marshaler) (m graphql.Marshaler) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			m = graphql.Null
		}
	}()
	return marshal(ctx, i)
}

// markSettled records that the list field being resolved (ctx's field) has
// every job its elements will load already in the request's loader, so that
// marshalList need not give each element a goroutine to batch in.
func markSettled(ctx context.Context) {
	if l, ok := loader.FromContext(ctx); ok {
		if fc := graphql.GetFieldContext(ctx); fc != nil {
			l.MarkSettled(fc)
		}
	}
}

func settled(ctx context.Context, fc *graphql.FieldContext) bool {
	l, ok := loader.FromContext(ctx)
	return ok && l.Settled(fc)
}
