package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Load reads the file at path and parses it as Parse does.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, getenv)
}

// Parse decodes a YAML configuration, applies the defaults and validates it.
//
// ${NAME} and ${NAME:-default} in values are expanded from getenv (nil means
// every variable is unset) after the YAML is parsed, so a value never
// changes the document's structure; $$ is a literal $. A variable that is
// unset with no default is a problem at the key where it is used.
//
// Decoding is strict: an unknown or duplicate key, or a value of the wrong
// type, is a problem. A key that is absent or null keeps its default; one
// that is written keeps its value, zero included. An environment without
// timeout takes upstream.timeout.
//
// Problems are returned together as a *ValidationError, in file order, and
// the Config is then nil. A YAML syntax error is returned wrapped, as it is.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c := Default()
	d := &decoder{getenv: getenv, lines: make(map[string]int)}
	d.decodeDocument(&root, c)
	for i := range c.Environments {
		if _, set := d.lines["environments["+strconv.Itoa(i)+"].timeout"]; !set {
			c.Environments[i].Timeout = c.Upstream.Timeout
		}
	}
	c.source = &source{lines: d.lines}

	problems := d.problems
	reported := make(map[string]bool, len(problems))
	for _, p := range problems {
		reported[p.Key] = true
	}
	// A key that could not be decoded (an unset variable, a wrong type)
	// also fails validation; once is enough.
	for _, p := range c.validate() {
		if !reported[p.Key] {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		// In file order; problems with no line (a missing section) last.
		slices.SortStableFunc(problems, func(a, b Problem) int {
			return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line))
		})
		return nil, &ValidationError{Problems: problems}
	}
	return c, nil
}

func lineOrder(line int) int {
	if line == 0 {
		return math.MaxInt
	}
	return line
}

// Redacted returns the effective configuration as YAML, defaults included,
// with every Secret shown as "[redacted]" and the credentials of the Redis
// URL masked: for publishgate check --print and for logs.
func (c *Config) Redacted() string {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		// Every field is a plain type or marshals itself without failing.
		return "# cannot print the configuration: " + err.Error() + "\n"
	}
	_ = enc.Close()
	return b.String()
}

// Check loads and validates the configuration at path, for publishgate
// check. It writes to w every problem, one per line as "key: message (line
// N)", or "ok: N environments, M bots", and returns the error from Load
// (a *ValidationError when there are problems), which has already been
// written: callers only need to exit non-zero.
func Check(path string, getenv func(string) string, w io.Writer) error {
	c, err := Load(path, getenv)
	if verr, ok := errors.AsType[*ValidationError](err); ok {
		for _, p := range verr.Problems {
			fmt.Fprintln(w, p)
		}
		return err
	}
	if err != nil {
		fmt.Fprintln(w, err)
		return err
	}
	bots := 0
	for _, e := range c.Environments {
		bots += len(e.Bots)
	}
	fmt.Fprintf(w, "ok: %d environments, %d bots\n", len(c.Environments), bots)
	return nil
}
