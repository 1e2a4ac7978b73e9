package graph

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/publishgate/publishgate/cache"
	"github.com/publishgate/publishgate/loader"
)

// listContext is the context of a list field of elem objects inside a
// request that has loaders, as the generated code gives marshalList.
func listContext(t *testing.T, elem string, settle bool) context.Context {
	t.Helper()
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	src := loader.NewSource(cache.NewMemory(cache.Policy{}), cache.Policy{}, nil)
	t.Cleanup(src.Close)
	ctx = loader.NewContext(ctx, src.NewLoaders())
	fc := &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{
		Alias:      "list",
		Definition: &ast.FieldDefinition{Type: ast.ListType(ast.NonNullNamedType(elem, nil), nil)},
	}}}
	ctx = graphql.WithFieldContext(ctx, fc)
	if settle {
		markSettled(ctx)
	}
	return ctx
}

// concurrency marshals n elements and reports the most that ran at once,
// checking every element got its own index.
func concurrency(t *testing.T, ctx context.Context, n int, wait func(started int32)) int32 {
	t.Helper()
	var running, most, started atomic.Int32
	ret := marshalList(ctx, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		if got := *graphql.GetFieldContext(ctx).Index; got != i {
			t.Errorf("element %d has index %d", i, got)
		}
		r := running.Add(1)
		for {
			m := most.Load()
			if r <= m || most.CompareAndSwap(m, r) {
				break
			}
		}
		wait(started.Add(1))
		running.Add(-1)
		return graphql.MarshalInt(i)
	})
	for i, m := range ret {
		if got := render(m); got != strconv.Itoa(i) {
			t.Fatalf("element %d: %s", i, got)
		}
	}
	return most.Load()
}

func TestMarshalListConcurrency(t *testing.T) {
	const n = 100
	t.Run("unsettled lists keep a goroutine per element (batching needs it)", func(t *testing.T) {
		// Every element waits until all have started: only possible if all
		// run at once, as elements waiting for one dataloader batch do.
		all := make(chan struct{})
		var once sync.Once
		most := concurrency(t, listContext(t, "Bot", false), n, func(started int32) {
			if started == n {
				once.Do(func() { close(all) })
			}
			select { // bounded, so that a sequential marshal fails instead of hanging
			case <-all:
			case <-time.After(10 * time.Second):
			}
		})
		if most != n {
			t.Fatalf("%d elements at once, want %d", most, n)
		}
	})
	t.Run("settled lists run one chunk per processor", func(t *testing.T) {
		most := concurrency(t, listContext(t, "Bot", true), n, func(int32) { runtime.Gosched() })
		if limit := int32(runtime.GOMAXPROCS(0)); most > limit {
			t.Fatalf("%d elements at once, want at most GOMAXPROCS=%d", most, limit)
		}
	})
	t.Run("plain data runs in order on the caller's goroutine", func(t *testing.T) {
		var order []int32
		most := concurrency(t, listContext(t, "ResourceStatus", false), n, func(started int32) { order = append(order, started) })
		if most != 1 {
			t.Fatalf("%d elements at once, want 1", most)
		}
		for i, s := range order {
			if s != int32(i+1) {
				t.Fatalf("element %d ran as number %d", i, s)
			}
		}
	})
}

func TestMarshalListPanicIsThatElementsError(t *testing.T) {
	for _, settle := range []bool{false, true} {
		ctx := listContext(t, "Bot", settle)
		ret := marshalList(ctx, 40, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
			if i == 7 {
				panic("boom")
			}
			return graphql.MarshalInt(i)
		})
		if render(ret[7]) != "null" || render(ret[8]) != "8" {
			t.Fatalf("settled=%v: element 7 %s, element 8 %s", settle, render(ret[7]), render(ret[8]))
		}
		errs := graphql.GetErrors(ctx)
		if len(errs) != 1 || errs[0].Path.String() != "list[7]" {
			t.Fatalf("settled=%v: errors %v, want one at list[7]", settle, errs)
		}
	}
}

func render(m graphql.Marshaler) string {
	var b strings.Builder
	m.MarshalGQL(&b)
	return b.String()
}
