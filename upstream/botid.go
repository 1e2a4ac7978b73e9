package upstream

import (
	"regexp"
	"strings"
)

// DefaultBotIDPattern is the shape of a Kore.ai bot ID: "st-" followed by a
// UUID in its 8-4-4-4-12 hex form, in either case.
const DefaultBotIDPattern = `^st-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`

// maxBotIDLen bounds the input any pattern is matched against.
const maxBotIDLen = 128

var defaultBotID = regexp.MustCompile(DefaultBotIDPattern)

// BotIDValidator decides whether a string is a plausible bot ID.
type BotIDValidator struct{ re *regexp.Regexp }

// NewBotIDValidator compiles pattern (DefaultBotIDPattern when empty).
func NewBotIDValidator(pattern string) (BotIDValidator, error) {
	if pattern == "" || pattern == DefaultBotIDPattern {
		return BotIDValidator{re: defaultBotID}, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return BotIDValidator{}, err
	}
	return BotIDValidator{re: re}, nil
}

// Valid reports whether id is a plausible bot ID. Besides the pattern, it
// refuses anything long, and anything that could change the meaning of a URL
// path, whatever the pattern says.
func (v BotIDValidator) Valid(id string) bool {
	if id == "" || len(id) > maxBotIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '%' || c == '?' || c == '#' {
			return false
		}
	}
	if strings.Contains(id, "..") {
		return false
	}
	re := v.re
	if re == nil {
		re = defaultBotID
	}
	return re.MatchString(id)
}

// ValidBotID reports whether id matches DefaultBotIDPattern.
func ValidBotID(id string) bool { return BotIDValidator{}.Valid(id) }
