package graph

import (
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/publishgate/publishgate/upstream"
)

// marshalResourceStatus writes one ResourceStatus with the selected fields,
// exactly as gqlgen's generated _ResourceStatus does, without its per-field
// machinery.
//
// gqlgen resolves every field through graphql.ResolveField: a field context,
// a context value, closures and the resolver middleware, per field. A
// ResourceStatus has six plain fields and no resolver, and a bot has about
// five of them: in a warm dashboard query its statusSummary made half of all
// allocations (BENCHMARKS.md, finding 2). No field of it can fail or wait,
// and the gateway installs no field interceptor, so writing the values
// directly gives the same answer. graph/generated.go calls this from the
// list of resources: `go generate` rewrites that call after gqlgen runs
// (internal/genpatch); resources_test.go compares the two for every field,
// alias, fragment and directive.
func marshalResourceStatus(oc *graphql.OperationContext, sel ast.SelectionSet, obj *upstream.ResourceStatus) graphql.Marshaler {
	fields := graphql.CollectFields(oc, sel, resourceStatusImplementors)
	out := graphql.NewFieldSet(fields)
	for i, field := range fields {
		switch field.Name {
		case "__typename":
			out.Values[i] = graphql.MarshalString("ResourceStatus")
		case "resourceId":
			out.Values[i] = graphql.MarshalString(obj.ResourceID)
		case "resourceType":
			out.Values[i] = graphql.MarshalString(obj.ResourceType)
		case "name":
			out.Values[i] = graphql.MarshalString(obj.Name)
		case "modules":
			modules := make(graphql.Array, len(obj.Modules))
			for j, m := range obj.Modules {
				modules[j] = graphql.MarshalString(m)
			}
			out.Values[i] = modules
		case "status":
			out.Values[i] = graphql.MarshalString(marshalNResourceState2githubᚗcomᚋpublishgateᚋpublishgateᚋupstreamᚐResourceState[obj.Status])
		case "rawStatus":
			out.Values[i] = graphql.MarshalString(obj.RawStatus)
		default:
			panic("unknown field " + strconv.Quote(field.Name))
		}
	}
	return out
}
