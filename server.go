// Command publishgate is a GraphQL gateway that tells platform teams, in one
// request, where every Kore.ai bot stands in its publish pipeline across
// every environment they run.
//
// Usage:
//
//	publishgate [--config FILE] [--addr HOST:PORT] [--redis URL] [--demo]
//	publishgate simulate --addr HOST:PORT [--config FILE]
//	publishgate check --config FILE
//	publishgate token [flags]
//
// With no configuration it serves a demo backed by a built-in Kore.ai
// simulator. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "publishgate:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errUsage marks an error already explained to the user (bad flags, an
// unknown command): exit status 2.
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run is the whole program, with its environment injected so tests can run
// it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil // the usage is on stdout
	}
	return err
}

// dispatch runs the command args name; with no command, or flags first, it
// serves.
func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return runServe(ctx, args, getenv, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, args[1:], getenv, stdout, stderr)
	case "check":
		return runCheck(args[1:], getenv, stdout, stderr)
	case "token":
		return runToken(args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	}
	if !strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "publishgate: unknown command %q; run 'publishgate --help'\n", args[0])
		return errUsage
	}
	return runServe(ctx, args, getenv, stdout, stderr)
}

const usageText = `publishgate: where every Kore.ai bot stands in its publish pipeline.

Usage:
  publishgate [serve] [--config FILE] [--addr HOST:PORT] [--redis URL] [--demo]
      Serve the GraphQL gateway. With no configuration: the demo.
  publishgate simulate [--addr HOST:PORT] [--config FILE]
      Run the Kore.ai simulator alone.
  publishgate check --config FILE
      Validate a configuration; list every problem by key.
  publishgate token [--secret-env VAR] [--environments a,b|*] [--publish] [--ttl 1h]
      Mint a caller JWT for trying the gateway with auth on.

Every flag also reads an environment variable: PUBLISHGATE_CONFIG,
PUBLISHGATE_ADDR, PUBLISHGATE_REDIS_URL, PUBLISHGATE_DEMO.
Run 'publishgate COMMAND --help' for the flags of a command.
`
