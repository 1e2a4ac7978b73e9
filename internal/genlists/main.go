// Command genlists runs after gqlgen (`go generate ./...` in graph/): it
// points the generated code's list marshalling at graph's marshalList
// instead of graphql.MarshalSliceConcurrently, which gives every element of
// every list of objects a goroutine of its own. graph/lists.go explains why
// and when marshalList keeps gqlgen's behaviour.
//
// Usage: go run ../internal/genlists generated.go
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

const (
	from = "graphql.MarshalSliceConcurrently("
	to   = "marshalList("
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genlists FILE")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "genlists:", err)
		os.Exit(1)
	}
}

// errNoCalls means the file has no call to rewrite: gqlgen changed how it
// marshals lists, and graph/lists.go needs a look.
var errNoCalls = errors.New("no " + from + " call found")

// rewrite replaces every call in the file, in place.
func rewrite(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	n := bytes.Count(src, []byte(from))
	if n == 0 {
		return fmt.Errorf("%s: %w", path, errNoCalls)
	}
	out := bytes.ReplaceAll(src, []byte(from), []byte(to))
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}
