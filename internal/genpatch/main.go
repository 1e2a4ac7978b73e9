// Command genpatch runs after gqlgen (`go generate ./...` in graph/) and
// makes these changes to the code gqlgen generated, each replacing a fixed
// text with a call into package graph, where the reason is written down:
//
//   - lists: every graphql.MarshalSliceConcurrently call becomes a call to
//     graph's marshalList, which gives an element a goroutine of its own
//     only when it may wait for a dataloader batch (graph/lists.go);
//   - jobs: a PublishJob (its freshness and statusSummary with it) is
//     written by graph's marshalPublishJob, without gqlgen's per-field
//     machinery for its plain fields (graph/marshal.go);
//   - deferred: the wait for a @defer fragment's result becomes a call to
//     graph's nextDeferred, which also ends when the request does: gqlgen's
//     fragments drop their result once the request's context is done, and
//     the generated code would wait for it forever (graph/deferred.go).
//
// Each change must find its text at least once: when gqlgen changes what it
// generates, `go generate` fails here instead of silently keeping gqlgen's
// behaviour.
//
// Usage: go run ../internal/genpatch generated.go
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// patch replaces every from in a file by to.
type patch struct {
	name, from, to string
}

// patches are the changes, in order.
var patches = []patch{
	{
		name: "lists",
		from: "graphql.MarshalSliceConcurrently(",
		to:   "marshalList(",
	},
	{
		name: "jobs",
		from: "\treturn ec._PublishJob(ctx, sel, v)\n",
		to:   "\treturn marshalPublishJob(ctx, ec, sel, v)\n",
	},
	{
		name: "deferred",
		from: "\t\t\t\t\tresult := <-ec.DeferredResults\n",
		to:   "\t\t\t\t\tresult, ok := nextDeferred(ctx, ec.DeferredResults)\n\t\t\t\t\tif !ok {\n\t\t\t\t\t\treturn nil\n\t\t\t\t\t}\n",
	},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genpatch FILE")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1], patches); err != nil {
		fmt.Fprintln(os.Stderr, "genpatch:", err)
		os.Exit(1)
	}
}

// errNotFound means a patch found nothing to replace: gqlgen changed what it
// generates, and the graph code the patch calls needs a look.
var errNotFound = errors.New("text to replace not found")

// rewrite applies every patch to the file, in place; on any error the file
// is left as it was.
func rewrite(path string, ps []patch) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if !bytes.Contains(src, []byte(p.from)) {
			return fmt.Errorf("%s: patch %s: %w: %q", path, p.name, errNotFound, p.from)
		}
		src = bytes.ReplaceAll(src, []byte(p.from), []byte(p.to))
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, src, info.Mode().Perm())
}
