package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommandLineHelpAndUsageErrors(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantExit   int
		wantStdout string // "" = nothing on stdout
		wantStderr string // "" = nothing on stderr
	}{
		{name: "top-level --help exits 0", args: []string{"--help"}, wantStdout: "Run 'publishgate COMMAND --help'"},
		{name: "top-level -help exits 0", args: []string{"-help"}, wantStdout: "Run 'publishgate COMMAND --help'"},
		{name: "serve --help exits 0", args: []string{"serve", "--help"}, wantStdout: "Usage: publishgate [serve] [flags]"},
		{name: "serve -h exits 0", args: []string{"serve", "-h"}, wantStdout: "-debug-addr"},
		{name: "serve flags then --help exits 0", args: []string{"--addr", "127.0.0.1:0", "--help"}, wantStdout: "Usage: publishgate [serve] [flags]"},
		{name: "simulate --help exits 0", args: []string{"simulate", "--help"}, wantStdout: "Usage: publishgate simulate [flags]"},
		{name: "check --help exits 0 without --config", args: []string{"check", "--help"}, wantStdout: "Usage: publishgate check --config FILE"},
		{name: "token --help exits 0", args: []string{"token", "--help"}, wantStdout: "-secret-env"},
		{name: "unknown command exits 2 with a hint", args: []string{"frobnicate"}, wantExit: 2, wantStderr: `unknown command "frobnicate"; run 'publishgate --help'`},
		{name: "unknown command before --help exits 2", args: []string{"sreve", "--help"}, wantExit: 2, wantStderr: `unknown command "sreve"`},
		{name: "unknown serve flag exits 2", args: []string{"serve", "--nope"}, wantExit: 2, wantStderr: "flag provided but not defined: -nope"},
		{name: "unknown simulate flag exits 2", args: []string{"simulate", "--nope"}, wantExit: 2, wantStderr: "Usage: publishgate simulate"},
		{name: "bad check flag value exits 2", args: []string{"check", "--print=maybe"}, wantExit: 2, wantStderr: "invalid boolean value"},
		{name: "stray serve argument exits 2", args: []string{"serve", "extra"}, wantExit: 2, wantStderr: `serve: unexpected argument "extra"; run 'publishgate serve --help'`},
		{name: "stray token argument exits 2", args: []string{"token", "extra"}, wantExit: 2, wantStderr: `token: unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Cancelled: a command that wrongly went on to serve stops at once.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var stdout, stderr bytes.Buffer
			err := run(ctx, tc.args, func(string) string { return "" }, &stdout, &stderr)
			exit := 0
			if err != nil {
				exit = exitCode(err)
			}
			if exit != tc.wantExit {
				t.Fatalf("exit %d (%v), want %d; stderr:\n%s", exit, err, tc.wantExit, stderr.String())
			}
			check := func(stream, got, want string) {
				if want == "" && got != "" {
					t.Errorf("%s = %q, want nothing", stream, got)
				}
				if !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", stream, got, want)
				}
			}
			check("stdout", stdout.String(), tc.wantStdout)
			check("stderr", stderr.String(), tc.wantStderr)
		})
	}
}
