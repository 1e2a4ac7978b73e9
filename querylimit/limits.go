// Package querylimit refuses GraphQL operations that are too deep, too
// wide (aliases, root fields) or took too long to parse and validate, after
// gqlgen has validated them and before any resolver runs; and it prices
// fields for gqlgen's complexity limit so that lists multiply the cost of
// what they contain.
package querylimit

import (
	"context"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeTooComplex is the extensions.code of a refused operation (SPEC §2).
const CodeTooComplex = "QUERY_TOO_COMPLEX"

// maxVisits bounds the walk of one operation: fragments spread inside
// fragments can describe an exponentially large selection in a small
// document, and counting it must not cost more than refusing it.
const maxVisits = 100_000

// Limits are the bounds of one operation; a zero bound is not checked.
type Limits struct {
	// MaxDepth is the deepest field nesting (a root field is depth 1).
	// Introspection (__schema, __type) is left to gqlparser's own rule.
	MaxDepth int
	// MaxAliases is the most aliased fields, counted as executed (a
	// fragment spread twice counts its aliases twice).
	MaxAliases int
	// MaxRootFields is the most fields at the top of the operation.
	MaxRootFields int
	// ParseBudget is the longest parsing and validation may have taken
	// (wall clock; gqlgen cannot interrupt them, the parser's token limit
	// bounds their work).
	ParseBudget time.Duration
}

// Extension is a gqlgen handler extension enforcing Limits.
type Extension struct{ Limits Limits }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Extension{}

// ExtensionName implements graphql.HandlerExtension.
func (Extension) ExtensionName() string { return "QueryLimits" }

// Validate implements graphql.HandlerExtension.
func (Extension) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext runs after validation and before execution. gqlgen
// cannot interrupt parsing and validation; the parser's token limit bounds
// their work, and an operation whose parsing and validation took longer than
// the budget, or outlived the request's deadline, is refused here rather
// than started.
func (e Extension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	took := oc.Stats.Validation.End.Sub(oc.Stats.Parsing.Start)
	if oc.Stats.Parsing.Start.IsZero() {
		took = 0
	}
	if b := e.Limits.ParseBudget; (b > 0 && took > b) || ctx.Err() != nil {
		return tooComplex("parseTimeout", fmt.Sprintf("parsing and validating the document took %v, past its budget of %v or the request's deadline", took.Round(time.Millisecond), b), int(b.Milliseconds()))
	}
	m := Measure(oc.Doc, oc.Operation)
	switch l := e.Limits; {
	case m.Truncated:
		return tooComplex("maxDepth", "the operation expands to too many fields", maxVisits)
	case l.MaxDepth > 0 && m.Depth > l.MaxDepth:
		return tooComplex("maxDepth", fmt.Sprintf("the operation is %d levels deep, at most %d are allowed", m.Depth, l.MaxDepth), l.MaxDepth)
	case l.MaxAliases > 0 && m.Aliases > l.MaxAliases:
		return tooComplex("maxAliases", fmt.Sprintf("the operation has %d aliases, at most %d are allowed", m.Aliases, l.MaxAliases), l.MaxAliases)
	case l.MaxRootFields > 0 && m.RootFields > l.MaxRootFields:
		return tooComplex("maxRootFields", fmt.Sprintf("the operation has %d root fields, at most %d are allowed", m.RootFields, l.MaxRootFields), l.MaxRootFields)
	}
	return nil
}

func tooComplex(limit, msg string, max int) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    msg,
		Extensions: map[string]any{"code": CodeTooComplex, "limit": limit, "max": max},
	}
}

// Measurement is what Measure found in an operation.
type Measurement struct {
	Depth      int
	Aliases    int
	RootFields int
	// Truncated is set when the walk stopped at its bound of visits.
	Truncated bool
}

// Measure walks op, expanding fragments from doc, and measures it.
func Measure(doc *ast.QueryDocument, op *ast.OperationDefinition) Measurement {
	w := &walker{doc: doc}
	w.m.RootFields = w.countFields(op.SelectionSet, 0)
	if w.visits <= maxVisits {
		w.visits = 0
		w.walk(op.SelectionSet, 1)
	}
	w.m.Truncated = w.visits > maxVisits
	return w.m
}

type walker struct {
	doc    *ast.QueryDocument
	m      Measurement
	visits int
}

// walk visits set, whose fields are at depth.
func (w *walker) walk(set ast.SelectionSet, depth int) {
	for _, sel := range set {
		if w.visits++; w.visits > maxVisits {
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			if s.Alias != "" && s.Alias != s.Name {
				w.m.Aliases++
			}
			if s.Name == "__schema" || s.Name == "__type" {
				continue
			}
			w.m.Depth = max(w.m.Depth, depth)
			w.walk(s.SelectionSet, depth+1)
		case *ast.InlineFragment:
			w.walk(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			if f := w.fragment(s); f != nil {
				w.walk(f.SelectionSet, depth)
			}
		}
	}
}

// countFields counts the fields of set through fragments, at one level.
func (w *walker) countFields(set ast.SelectionSet, guard int) int {
	if guard > 64 {
		return 0
	}
	n := 0
	for _, sel := range set {
		if w.visits++; w.visits > maxVisits {
			return n
		}
		switch s := sel.(type) {
		case *ast.Field:
			n++
		case *ast.InlineFragment:
			n += w.countFields(s.SelectionSet, guard+1)
		case *ast.FragmentSpread:
			if f := w.fragment(s); f != nil {
				n += w.countFields(f.SelectionSet, guard+1)
			}
		}
	}
	return n
}

func (w *walker) fragment(s *ast.FragmentSpread) *ast.FragmentDefinition {
	if s.Definition != nil {
		return s.Definition
	}
	if w.doc != nil {
		return w.doc.Fragments.ForName(s.Name)
	}
	return nil
}
