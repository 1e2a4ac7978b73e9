package config

import (
	"regexp"
	"strings"
)

// varName is the shape of a variable name in ${NAME}.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand replaces ${NAME} and ${NAME:-default} in s with values from getenv,
// and $$ with a literal $; any other $ is kept as it is. As in the shell,
// ":-" uses the default when the variable is unset or empty (getenv cannot
// tell the two apart). Defaults are literal text ending at the first "}".
//
// It returns the problems found, phrased to follow a key: a variable that is
// unset with no default (its reference is then left in place), or a
// malformed reference. They never contain the value of a variable.
func expand(s string, getenv func(string) string) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var (
		b        strings.Builder
		problems []string
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, `unterminated "${" (write "$$" for a literal "$")`)
				b.WriteString(s[i:])
				return b.String(), problems
			}
			ref := s[i+2 : i+2+end]
			i += 2 + end
			name, def, hasDefault := strings.Cut(ref, ":-")
			if !varName.MatchString(name) {
				problems = append(problems, `malformed variable reference: use ${NAME} or ${NAME:-default} (write "$$" for a literal "$")`)
				continue
			}
			value := ""
			if getenv != nil {
				value = getenv(name)
			}
			switch {
			case value != "":
				b.WriteString(value)
			case hasDefault:
				b.WriteString(def)
			default:
				// Keep the reference: the key already has its problem, and
				// an empty value would add "is required" ones to it.
				b.WriteString("${" + ref + "}")
				problems = append(problems, "environment variable "+name+" is not set (write ${"+name+":-default} to give a default)")
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), problems
}
