package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
)

// errHelp marks a request for help (-h, -help, --help) already answered on
// stdout: run turns it into success, so `publishgate COMMAND --help` exits 0
// like `publishgate --help`.
var errHelp = errors.New("help")

// newFlagSet returns the flag set of the command name, whose usage starts
// with "Usage: publishgate " + synopsis and the sentence about.
func newFlagSet(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: publishgate %s\n\n%s\n\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses the arguments of a command. Help goes to stdout and
// returns errHelp; a usage error (an unknown flag, a bad value, a stray
// argument: no command takes positional arguments) is explained on stderr
// and returns errUsage, exit status 2. The flag package writes both to one
// output, so it writes to a buffer here and the outcome picks the stream.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = out.WriteTo(stdout)
		return errHelp
	case err != nil:
		_, _ = out.WriteTo(stderr)
		return errUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q; run 'publishgate %s --help'\n", fs.Name(), fs.Arg(0), fs.Name())
		return errUsage
	}
	return nil
}
