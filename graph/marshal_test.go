package graph

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/publishgate/publishgate/graph/model"
	"github.com/publishgate/publishgate/upstream"
)

// selectionOf parses query against the schema and returns an execution
// context for it and the selection set of its first field named field.
func selectionOf(t *testing.T, query string, vars map[string]any, field string) (*executionContext, ast.SelectionSet) {
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
				if f.Name == field {
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
		t.Fatalf("no %s in the query", field)
	}
	oc := &graphql.OperationContext{RawQuery: query, Doc: doc, Operation: op, Variables: vars,
		ResolverMiddleware: func(ctx context.Context, next graphql.Resolver) (any, error) { return next(ctx) },
	}
	return newExecutionContext(oc, es, make(chan graphql.DeferredResult)), sel
}

// responseContext is a context for marshalling with ec, collecting errors.
func responseContext(ec *executionContext) context.Context {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	return graphql.WithOperationContext(ctx, ec.OperationContext)
}

// dashboardQuery asks for bots' publish status with the given selection of
// PublishJob; $with is there for @include and @skip.
func dashboardQuery(selection string) string {
	q := fmt.Sprintf(`query Q($with: Boolean!) { bots(refs: [{environment: "e", botId: "b"}]) { id @skip(if: $with) publishStatus { %s } } }`, selection)
	if strings.Contains(selection, "...R") {
		q += "\nfragment R on ResourceStatus { name modules }"
	}
	if strings.Contains(selection, "...J") {
		q += "\nfragment J on PublishJob { id status freshness { stale } }"
	}
	return q
}

// TestMarshalPublishJobIsWhatGqlgenWrites compares marshalPublishJob with
// the generated marshaller it replaces, for every field, aliases,
// fragments, directives and odd values, errors included.
func TestMarshalPublishJobIsWhatGqlgenWrites(t *testing.T) {
	selections := map[string]string{
		"every field": `__typename id jobType streamId action createdBy percentageComplete status rawStatus requestedTime initiatedOn lastModifiedOn
			statusSummary { __typename resourceId resourceType name modules status rawStatus } freshness { __typename fetchedAt ageSeconds fromCache stale }`,
		"the dashboard's":      `status percentageComplete lastModifiedOn statusSummary { resourceType status }`,
		"aliases and repeats":  `a: id b: id id s: statusSummary { x: status status } t: statusSummary { name } f: freshness { age: ageSeconds }`,
		"fragments":            `...J ... on PublishJob { rawStatus statusSummary { ...R ... on ResourceStatus { status } } }`,
		"include and skip":     `id @include(if: $with) status @skip(if: $with) statusSummary { name @include(if: $with) status } freshness @skip(if: false) { stale @include(if: $with) fromCache }`,
		"deferred fragments":   `id ... @defer(label: "j") { status } statusSummary { resourceId ... @defer(label: "r") { modules } }`,
		"a fragment repeating": `status ...J freshness { fetchedAt stale }`,
		"merged selections":    `statusSummary { name } statusSummary { status name } freshness { stale } freshness { fromCache } ...J`,
	}
	at := time.Date(2026, 3, 1, 10, 17, 2, 456e6, time.UTC)
	resources := []upstream.ResourceStatus{
		{ResourceID: "NL", ResourceType: "NL", Name: "Natural language", Modules: []string{"ML", "FAQ"}, Status: upstream.ResourceSuccess, RawStatus: "SUCCESS"},
		{ResourceID: "x\"y\\z\n", ResourceType: "dialog", Name: "Überweisung 💸", Modules: []string{}, Status: upstream.ResourceInProgress, RawStatus: "in progress"},
		{ResourceID: "odd", Status: upstream.ResourceState("not-a-state"), RawStatus: "?"},
		{},
	}
	job := func(f func(j *upstream.Job, fr *model.Freshness)) *model.PublishJob {
		j := &upstream.Job{ID: "ds-1", JobType: "PUBLISH_BOT", StreamID: "st-1", Action: "RUN", CreatedBy: "u-1", PercentageComplete: 40,
			Status: upstream.StateInProgress, RawStatus: "inprogress", RequestedTime: &at, InitiatedOn: &at, LastModifiedOn: &at, StatusSummary: resources}
		fr := model.Freshness{FetchedAt: at, AgeSeconds: 1.5, FromCache: true}
		f(j, &fr)
		return &model.PublishJob{Job: j, Freshness: fr}
	}
	jobs := map[string]*model.PublishJob{
		"in progress": job(func(*upstream.Job, *model.Freshness) {}),
		"finished, stale, no times, no resources": job(func(j *upstream.Job, fr *model.Freshness) {
			j.Status, j.RequestedTime, j.InitiatedOn, j.LastModifiedOn, j.StatusSummary, j.Action, j.CreatedBy = upstream.StateSuccessful, nil, nil, nil, nil, "", ""
			fr.Stale, fr.FromCache, fr.AgeSeconds = true, false, 0
		}),
		"an unknown state, a huge age": job(func(j *upstream.Job, fr *model.Freshness) {
			j.Status, fr.AgeSeconds = upstream.State("weird"), 1e21
		}),
		"a zero time (gqlgen's error)":   job(func(_ *upstream.Job, fr *model.Freshness) { fr.FetchedAt = time.Time{} }),
		"a NaN age (gqlgen's error)":     job(func(_ *upstream.Job, fr *model.Freshness) { fr.AgeSeconds = math.NaN() }),
		"no job at all (gqlgen's error)": {Freshness: model.Freshness{FetchedAt: at}},
	}
	for name, s := range selections {
		for _, with := range []bool{true, false} {
			ec, sel := selectionOf(t, dashboardQuery(s), map[string]any{"with": with}, "publishStatus")
			for jn, j := range jobs {
				wantCtx, gotCtx := responseContext(ec), responseContext(ec)
				want := renderRecovering(wantCtx, func() graphql.Marshaler { return ec._PublishJob(wantCtx, sel, j) })
				got := renderRecovering(gotCtx, func() graphql.Marshaler { return marshalPublishJob(gotCtx, ec, sel, j) })
				if got != want {
					t.Errorf("%s (with=%v), %s:\n got %s\nwant %s", name, with, jn, got, want)
				}
				if g, w := fmt.Sprint(graphql.GetErrors(gotCtx)), fmt.Sprint(graphql.GetErrors(wantCtx)); g != w {
					t.Errorf("%s (with=%v), %s: errors %s, want %s", name, with, jn, g, w)
				}
			}
		}
	}
}

// renderRecovering renders what marshal returns, a panic (gqlgen's, for a
// job-less PublishJob) becoming an error in ctx as the executor would.
func renderRecovering(ctx context.Context, marshal func() graphql.Marshaler) (out string) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, fmt.Errorf("panic: %v", r))
			out = "panic"
		}
	}()
	return render(marshal())
}

// TestWriteQuotedIsGraphqlsStringEncoding: every rune below 0x80, some
// beyond, invalid UTF-8 and the empty string encode as graphql.MarshalString
// encodes them.
func TestWriteQuotedIsGraphqlsStringEncoding(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x80; r++ {
		all.WriteRune(r)
	}
	for _, s := range []string{"", all.String(), "Überweisung 💸 \u2028\u2029", "a\xffb\xc0", `"\"\\`, "\x00\x1f\x7f"} {
		var got strings.Builder
		writeQuoted(&got, s)
		if want := render(graphql.MarshalString(s)); got.String() != want {
			t.Errorf("%q: got %s, want %s", s, got.String(), want)
		}
	}
}

// TestWriteObjectWritesARepeatedAliasOnce as gqlgen's FieldSet does.
func TestWriteObjectWritesARepeatedAliasOnce(t *testing.T) {
	r := &upstream.ResourceStatus{Status: upstream.ResourceFailed, RawStatus: "failed"}
	fields := []graphql.CollectedField{
		{Field: &ast.Field{Alias: "a", Name: "status"}},
		{Field: &ast.Field{Alias: "b", Name: "rawStatus"}},
		{Field: &ast.Field{Alias: "a", Name: "rawStatus"}},
	}
	var got strings.Builder
	writeObject(&got, fields, resourceJSON{r})
	fs := graphql.NewFieldSet(fields)
	fs.Values[0], fs.Values[1], fs.Values[2] = graphql.MarshalString("FAILED"), graphql.MarshalString("failed"), graphql.MarshalString("failed")
	if want := render(fs); got.String() != want {
		t.Fatalf("got %s, want %s", got.String(), want)
	}
}
