package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{
			name: "every call",
			in:   "a := graphql.MarshalSliceConcurrently(ctx, 1)\nb := graphql.MarshalSliceConcurrently(ctx, 2)\n",
			want: "a := marshalList(ctx, 1)\nb := marshalList(ctx, 2)\n",
		},
		{name: "none left means gqlgen changed", in: "a := marshalList(ctx, 1)\n", err: errNoCalls},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "generated.go")
			if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			err := rewrite(path)
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

// TestGeneratedCodeUsesMarshalList guards the go:generate step: the
// committed generated code must not call gqlgen's per-element marshaller.
func TestGeneratedCodeUsesMarshalList(t *testing.T) {
	src, err := os.ReadFile("../../graph/generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(src), from) {
		t.Fatalf("graph/generated.go still calls %s: run go generate ./...", from)
	}
	if !strings.Contains(string(src), to) {
		t.Fatalf("graph/generated.go never calls %s", to)
	}
}
