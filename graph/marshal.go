package graph

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/publishgate/publishgate/graph/model"
	"github.com/publishgate/publishgate/upstream"
)

// Publish jobs written straight to the response.
//
// gqlgen resolves every field through graphql.ResolveField (a field context,
// a context value, closures and the resolver middleware), gives every list
// element a field context, and writes every object through a FieldSet (a
// value per field, an iterator and a map of the aliases written). A
// PublishJob, its Freshness and its ResourceStatus list are plain data with
// no resolver, and a warm dashboard's answer is mostly them: in a warm
// 1,000-bot query they made most of the allocations (BENCHMARKS.md,
// finding 2). None of their fields can wait or fail, and the gateway
// installs no field interceptor, so a job is written as JSON straight from
// its value, with the fields gqlgen collects for the query (aliases,
// fragments, @include and @skip) and gqlgen's own scalar encodings. Where
// gqlgen would report an error (a job-less PublishJob, a zero fetch time, a
// non-finite age) marshalPublishJob hands the job to the generated code,
// which reports it as before.
//
// graph/generated.go calls marshalPublishJob where gqlgen calls
// _PublishJob: `go generate` rewrites the call after gqlgen runs
// (internal/genpatch). marshal_test.go compares it with the generated
// marshaller (untouched, so the reference is gqlgen's own) for every field,
// alias, fragment and directive, and the string encoding with gqlgen's for
// every kind of rune.

// marshalPublishJob writes a non-nil job with the selected fields.
func marshalPublishJob(ctx context.Context, ec *executionContext, sel ast.SelectionSet, obj *model.PublishJob) graphql.Marshaler {
	if obj.Job == nil || obj.Freshness.FetchedAt.IsZero() || math.IsNaN(obj.Freshness.AgeSeconds) || math.IsInf(obj.Freshness.AgeSeconds, 0) {
		return ec._PublishJob(ctx, sel, obj)
	}
	return jobJSON{oc: ec.OperationContext, fields: graphql.CollectFields(ec.OperationContext, sel, publishJobImplementors), job: obj}
}

// fieldWriter writes the value of one field of an object.
type fieldWriter interface {
	writeField(w io.Writer, f *graphql.CollectedField)
}

// writeObject writes {"alias":value,...} for fields as gqlgen's FieldSet
// does: in order, a repeated alias once.
func writeObject[T fieldWriter](w io.Writer, fields []graphql.CollectedField, obj T) {
	io.WriteString(w, "{")
	written := 0
	for i := range fields {
		f := &fields[i]
		if repeated(fields[:i], f.Alias) {
			continue
		}
		if written > 0 {
			io.WriteString(w, ",")
		}
		written++
		writeQuoted(w, f.Alias)
		io.WriteString(w, ":")
		obj.writeField(w, f)
	}
	io.WriteString(w, "}")
}

func repeated(fields []graphql.CollectedField, alias string) bool {
	for i := range fields {
		if fields[i].Alias == alias {
			return true
		}
	}
	return false
}

// jobJSON is a PublishJob and the operation it is written for.
type jobJSON struct {
	oc     *graphql.OperationContext
	fields []graphql.CollectedField
	job    *model.PublishJob
}

// MarshalGQL implements graphql.Marshaler.
func (j jobJSON) MarshalGQL(w io.Writer) { writeObject(w, j.fields, j) }

func (j jobJSON) writeField(w io.Writer, f *graphql.CollectedField) {
	job := j.job
	switch f.Name {
	case "__typename":
		writeQuoted(w, "PublishJob")
	case "id":
		writeQuoted(w, job.ID)
	case "jobType":
		writeQuoted(w, job.JobType)
	case "streamId":
		writeQuoted(w, job.StreamID)
	case "action":
		writeQuoted(w, job.Action)
	case "createdBy":
		writeQuoted(w, job.CreatedBy)
	case "percentageComplete":
		io.WriteString(w, strconv.Itoa(job.PercentageComplete))
	case "status":
		writeQuoted(w, marshalNPublishState2githubᚗcomᚋpublishgateᚋpublishgateᚋupstreamᚐState[job.Status])
	case "rawStatus":
		writeQuoted(w, job.RawStatus)
	case "requestedTime":
		writeOptionalTime(w, job.RequestedTime)
	case "initiatedOn":
		writeOptionalTime(w, job.InitiatedOn)
	case "lastModifiedOn":
		writeOptionalTime(w, job.LastModifiedOn)
	case "statusSummary":
		fields := graphql.CollectFields(j.oc, f.Selections, resourceStatusImplementors)
		io.WriteString(w, "[")
		for i := range job.StatusSummary {
			if i > 0 {
				io.WriteString(w, ",")
			}
			writeObject(w, fields, resourceJSON{&job.StatusSummary[i]})
		}
		io.WriteString(w, "]")
	case "freshness":
		writeObject(w, graphql.CollectFields(j.oc, f.Selections, freshnessImplementors), freshnessJSON{&job.Freshness})
	default:
		panic("unknown field " + strconv.Quote(f.Name))
	}
}

// freshnessJSON is a Freshness whose fetch time is set and whose age is
// finite (marshalPublishJob checks).
type freshnessJSON struct{ fr *model.Freshness }

func (o freshnessJSON) writeField(w io.Writer, f *graphql.CollectedField) {
	switch f.Name {
	case "__typename":
		writeQuoted(w, "Freshness")
	case "fetchedAt":
		writeTime(w, o.fr.FetchedAt)
	case "ageSeconds":
		fmt.Fprintf(w, "%g", o.fr.AgeSeconds) // graphql.MarshalFloatContext's encoding
	case "fromCache":
		io.WriteString(w, strconv.FormatBool(o.fr.FromCache))
	case "stale":
		io.WriteString(w, strconv.FormatBool(o.fr.Stale))
	default:
		panic("unknown field " + strconv.Quote(f.Name))
	}
}

// resourceJSON is one ResourceStatus.
type resourceJSON struct{ r *upstream.ResourceStatus }

func (o resourceJSON) writeField(w io.Writer, f *graphql.CollectedField) {
	r := o.r
	switch f.Name {
	case "__typename":
		writeQuoted(w, "ResourceStatus")
	case "resourceId":
		writeQuoted(w, r.ResourceID)
	case "resourceType":
		writeQuoted(w, r.ResourceType)
	case "name":
		writeQuoted(w, r.Name)
	case "modules":
		io.WriteString(w, "[")
		for i, m := range r.Modules {
			if i > 0 {
				io.WriteString(w, ",")
			}
			writeQuoted(w, m)
		}
		io.WriteString(w, "]")
	case "status":
		writeQuoted(w, marshalNResourceState2githubᚗcomᚋpublishgateᚋpublishgateᚋupstreamᚐResourceState[r.Status])
	case "rawStatus":
		writeQuoted(w, r.RawStatus)
	default:
		panic("unknown field " + strconv.Quote(f.Name))
	}
}

// writeOptionalTime writes a nullable Time as graphql.MarshalTime does.
func writeOptionalTime(w io.Writer, t *time.Time) {
	if t == nil {
		io.WriteString(w, "null")
		return
	}
	writeTime(w, *t)
}

// writeTime writes t as graphql.MarshalTime does (null when zero).
func writeTime(w io.Writer, t time.Time) {
	if t.IsZero() {
		io.WriteString(w, "null")
		return
	}
	io.WriteString(w, strconv.Quote(t.Format(time.RFC3339Nano)))
}

// hexDigits are graphql's, for \u00XX escapes.
const hexDigits = "0123456789ABCDEF"

// writeQuoted writes s as a JSON string exactly as graphql.MarshalString
// does (which it does not export): control characters, backslash and quote
// escaped, everything else as is.
func writeQuoted(w io.Writer, s string) {
	start := 0
	io.WriteString(w, `"`)
	for i, c := range s {
		if c < 0x20 || c == '\\' || c == '"' {
			io.WriteString(w, s[start:i])
			switch c {
			case '\t':
				io.WriteString(w, `\t`)
			case '\r':
				io.WriteString(w, `\r`)
			case '\n':
				io.WriteString(w, `\n`)
			case '\\':
				io.WriteString(w, `\\`)
			case '"':
				io.WriteString(w, `\"`)
			default:
				io.WriteString(w, `\u00`)
				w.Write([]byte{hexDigits[c>>4], hexDigits[c&0xf]})
			}
			start = i + 1
		}
	}
	io.WriteString(w, s[start:])
	io.WriteString(w, `"`)
}
