package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/publishgate/publishgate/upstream"
)

// resourceSelection parses query against the schema and returns its
// operation context and the selection set of its first statusSummary.
func resourceSelection(t *testing.T, query string, vars map[string]any) (*graphql.OperationContext, ast.SelectionSet) {
	t.Helper()
	es := NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema)
	doc, errs := gqlparser.LoadQuery(es.Schema(), query)
	if errs != nil {
		t.Fatalf("query: %v", errs)
	}
	op := doc.Operations[0]
	var find func(ast.SelectionSet) ast.SelectionSet
	find = func(ss ast.SelectionSet) ast.SelectionSet {
		for _, s := range ss {
			if f, ok := s.(*ast.Field); ok {
				if f.Name == "statusSummary" {
					return f.SelectionSet
				}
				if got := find(f.SelectionSet); got != nil {
					return got
				}
			}
		}
		return nil
	}
	sel := find(op.SelectionSet)
	if sel == nil {
		t.Fatal("no statusSummary in the query")
	}
	return &graphql.OperationContext{RawQuery: query, Doc: doc, Operation: op, Variables: vars,
		ResolverMiddleware: func(ctx context.Context, next graphql.Resolver) (any, error) { return next(ctx) },
	}, sel
}

// TestMarshalResourceStatusIsWhatGqlgenWrites compares marshalResourceStatus
// with the generated _ResourceStatus it replaces, for every field, aliases,
// fragments, directives and odd values.
func TestMarshalResourceStatusIsWhatGqlgenWrites(t *testing.T) {
	const bots = `query Q($with: Boolean!) { bots(refs: [{environment: "e", botId: "b"}]) { id @skip(if: $with) publishStatus { statusSummary { %s } } } }`
	selections := map[string]string{
		"every field":          `resourceId resourceType name modules status rawStatus __typename`,
		"aliases and repeats":  `id: resourceId other: resourceId resourceId kind: __typename`,
		"fragments":            `...F ... on ResourceStatus { status rawStatus }`,
		"include and skip":     `resourceId name @include(if: $with) status @skip(if: $with) rawStatus @skip(if: false)`,
		"a deferred fragment":  `resourceId ... @defer(label: "more") { modules status }`,
		"one field":            `status`,
		"a fragment repeating": `status ...F name`,
	}
	objects := []upstream.ResourceStatus{
		{ResourceID: "NL", ResourceType: "NL", Name: "Natural language", Modules: []string{"ML", "FAQ"}, Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
		{ResourceID: "SETTINGS", ResourceType: "SETTINGS", Status: upstream.ResourceFailed, RawStatus: "failed"},
		{ResourceID: "x\"y\\z\n", ResourceType: "dialog", Name: "Überweisung 💸", Modules: []string{}, Status: upstream.ResourceInProgress, RawStatus: "in progress"},
		{ResourceID: "odd", Status: upstream.ResourceState("not-a-state"), RawStatus: "?"},
		{},
	}
	for name, s := range selections {
		for _, with := range []bool{true, false} {
			q := fmt.Sprintf(bots, s)
			if strings.Contains(s, "...F") {
				q += "\nfragment F on ResourceStatus { name modules }"
			}
			oc, sel := resourceSelection(t, q, map[string]any{"with": with})
			es := NewExecutableSchema(Config{Resolvers: &Resolver{}}).(*executableSchema)
			ec := newExecutionContext(oc, es, make(chan graphql.DeferredResult))
			ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
			ctx = graphql.WithOperationContext(ctx, oc)
			for i := range objects {
				obj := objects[i]
				want := render(ec._ResourceStatus(ctx, sel, &obj))
				got := render(marshalResourceStatus(oc, sel, &obj))
				if got != want {
					t.Errorf("%s (with=%v), object %d:\n got %s\nwant %s", name, with, i, got, want)
				}
			}
			if errs := graphql.GetErrors(ctx); len(errs) > 0 {
				t.Errorf("%s: gqlgen reported %v", name, errs)
			}
		}
	}
}
