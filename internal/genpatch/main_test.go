package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	ps := []patch{{name: "a", from: "A(", to: "x("}, {name: "b", from: "<-ch\n", to: "next(ch)\n"}}
	tests := []struct {
		name, in, want string
		err            error
	}{
		{
			name: "every occurrence of every patch",
			in:   "p := A(1)\nq := A(2)\nr := <-ch\n",
			want: "p := x(1)\nq := x(2)\nr := next(ch)\n",
		},
		{name: "a patch with nothing to replace means gqlgen changed", in: "p := A(1)\n", err: errNotFound},
		{name: "already patched", in: "p := x(1)\nr := next(ch)\n", err: errNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "generated.go")
			if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			err := rewrite(path, ps)
			if !errors.Is(err, tt.err) {
				t.Fatalf("rewrite: %v, want %v", err, tt.err)
			}
			got, _ := os.ReadFile(path)
			if tt.err == nil && string(got) != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
			if tt.err != nil && string(got) != tt.in {
				t.Fatalf("file changed on error:\n%s", got)
			}
		})
	}
}

// TestGeneratedCodeIsPatched guards the go:generate step: the committed
// generated code holds every patch's replacement and none of gqlgen's text.
func TestGeneratedCodeIsPatched(t *testing.T) {
	raw, err := os.ReadFile("../../graph/generated.go")
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	for _, p := range patches {
		if strings.Contains(src, p.from) {
			t.Errorf("patch %s: graph/generated.go still holds %q: run go generate ./...", p.name, p.from)
		}
		if !strings.Contains(src, p.to) {
			t.Errorf("patch %s: graph/generated.go lacks %q", p.name, p.to)
		}
	}
}
