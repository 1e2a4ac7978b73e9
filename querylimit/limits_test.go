package querylimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/publishgate/publishgate/querylimit"
)

func measure(t *testing.T, q string) querylimit.Measurement {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	return querylimit.Measure(doc, doc.Operations[0])
}

func TestMeasure(t *testing.T) {
	// A fragment spreading the next one twice, 30 levels down: 2^30 fields
	// written in a few hundred bytes.
	var fanout strings.Builder
	fanout.WriteString("{ ...f0 }\n")
	for i := range 30 {
		fanout.WriteString("fragment f" + itoa(i) + " on Query { ...f" + itoa(i+1) + " ...f" + itoa(i+1) + " }\n")
	}
	fanout.WriteString("fragment f30 on Query { a: environments { name } }\n")

	cases := []struct {
		name  string
		query string
		want  querylimit.Measurement
	}{
		{name: "one field", query: "{ environments { name } }", want: querylimit.Measurement{Depth: 2, RootFields: 1}},
		{name: "aliases counted, plain names not", query: "{ a: environments { n: name name } environments { name } }", want: querylimit.Measurement{Depth: 2, Aliases: 2, RootFields: 2}},
		{name: "fragments add their depth where spread", query: "{ environments { ...e } } fragment e on Environment { bots { environment { name } } }", want: querylimit.Measurement{Depth: 4, RootFields: 1}},
		{name: "root fields through inline fragments", query: "{ ... on Query { a: environments { name } b: environments { name } } summary { total } }", want: querylimit.Measurement{Depth: 2, Aliases: 2, RootFields: 3}},
		{name: "a fragment spread twice counts its aliases twice", query: "{ environments { ...e ...e } } fragment e on Environment { x: name }", want: querylimit.Measurement{Depth: 2, Aliases: 2, RootFields: 1}},
		{name: "introspection is left to gqlparser", query: "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }", want: querylimit.Measurement{RootFields: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := measure(t, tc.query); got != tc.want {
				t.Errorf("Measure = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("an exponential fragment fan-out stops at the bound", func(t *testing.T) {
		if got := measure(t, fanout.String()); !got.Truncated {
			t.Errorf("Measure = %+v, want Truncated", got)
		}
	})
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestParseBudget(t *testing.T) {
	doc, err := parser.ParseQuery(&ast.Source{Input: "{ environments { name } }"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		ctx     context.Context
		took    time.Duration
		budget  time.Duration
		refused bool
	}{
		{name: "within the budget", ctx: context.Background(), took: time.Second, budget: 5 * time.Second},
		{name: "past the budget", ctx: context.Background(), took: 6 * time.Second, budget: 5 * time.Second, refused: true},
		{name: "past the request's deadline", ctx: cancelled, took: time.Millisecond, budget: 5 * time.Second, refused: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
			oc.Stats.Parsing.Start, oc.Stats.Validation.End = now.Add(-tc.took), now
			gerr := querylimit.Extension{Limits: querylimit.Limits{ParseBudget: tc.budget}}.MutateOperationContext(tc.ctx, oc)
			if refused := gerr != nil; refused != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", refused, gerr, tc.refused)
			}
			if gerr != nil && gerr.Extensions["code"] != querylimit.CodeTooComplex {
				t.Errorf("code = %v", gerr.Extensions["code"])
			}
		})
	}
}
