// Package clip owns one rule: how much of a caller-supplied string the
// gateway repeats back, in an error message or as a caller's name. It
// imports nothing from this module, so any package may use it.
package clip

// String returns s when it is at most n bytes long, else its first n bytes
// followed by "…". The cut is at a byte count, not a rune boundary; callers
// quote the result with %q, which escapes a split rune instead of passing
// invalid UTF-8 on.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
