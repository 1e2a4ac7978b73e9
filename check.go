package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/publishgate/publishgate/config"
)

// runCheck validates a configuration file and lists every problem.
func runCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "check --config FILE [--print]", "Validate a configuration; list every problem by key.")
	path := fs.String("config", getenv("PUBLISHGATE_CONFIG"), "configuration file to check (env PUBLISHGATE_CONFIG)")
	print := fs.Bool("print", false, "print the effective configuration, secrets redacted")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(stderr, "check: --config FILE is required")
		return errUsage
	}
	if err := config.Check(*path, getenv, stdout); err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s: %d problem(s)", *path, len(ve.Problems))
		}
		return err
	}
	if *print {
		cfg, err := config.Load(*path, getenv)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, cfg.Redacted())
	}
	return nil
}
