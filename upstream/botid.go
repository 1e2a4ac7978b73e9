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

// defaultBotID is the compiled DefaultBotIDPattern, used only to check that
// isKoreBotID agrees with it (tests, fuzzing).
var defaultBotID = regexp.MustCompile(DefaultBotIDPattern)

// BotIDValidator decides whether a string is a plausible bot ID. The zero
// value checks DefaultBotIDPattern.
type BotIDValidator struct{ re *regexp.Regexp }

// NewBotIDValidator compiles pattern (DefaultBotIDPattern when empty).
func NewBotIDValidator(pattern string) (BotIDValidator, error) {
	if pattern == "" || pattern == DefaultBotIDPattern {
		// The default shape is checked by hand (isKoreBotID): a regexp
		// match on every bot of every query showed up in profiles.
		return BotIDValidator{}, nil
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
	if v.re == nil {
		return isKoreBotID(id)
	}
	return v.re.MatchString(id)
}

// isKoreBotID matches DefaultBotIDPattern without a regexp: "st-" and an
// 8-4-4-4-12 hex UUID in either case.
func isKoreBotID(id string) bool {
	const uuidLen = 36
	if len(id) != 3+uuidLen || id[:3] != "st-" {
		return false
	}
	for i := 0; i < uuidLen; i++ {
		c := id[3+i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// ValidBotID reports whether id matches DefaultBotIDPattern.
func ValidBotID(id string) bool { return BotIDValidator{}.Valid(id) }
