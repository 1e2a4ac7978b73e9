package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

const redacted = "[redacted]"

// Secret is a string that every way of printing, logging or marshalling
// shows as "[redacted]" (or "" when it is empty, so that an unset secret is
// visible as unset). Reveal returns the value for the one place that uses it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]", or "" when s is empty.
func (s Secret) String() string { return s.mask() }

// GoString returns "[redacted]", or "" when s is empty, for %#v.
func (s Secret) GoString() string { return s.mask() }

// LogValue makes slog print "[redacted]", or "" when s is empty.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mask()) }

// MarshalText returns "[redacted]", or "" when s is empty.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// MarshalJSON returns "[redacted]" as a JSON string, or "" when s is empty.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.mask()) }

// MarshalYAML returns "[redacted]", or "" when s is empty.
func (s Secret) MarshalYAML() (any, error) { return s.mask(), nil }

// Duration is a time.Duration written in YAML and JSON as a string such as
// "30s", "2m" or "1h30m".
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String returns d in its shortest usual form: "2m" rather than "2m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// errDuration is what a malformed duration reports; it never repeats the
// value, which may have come from an environment variable.
var errDuration = errors.New("expected a duration such as 30s, 2m or 1h30m")

// parseDuration accepts what time.ParseDuration does, so a bare number other
// than 0 is refused: its unit would be a guess.
func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errDuration
	}
	return Duration(v), nil
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errDuration
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalText reads a duration string (JSON and flags use it).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText writes the duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// redacted returns r with any credentials in URL masked.
func (r Redis) redacted() redisView {
	return redisView{URL: redactURL(r.URL), Addrs: r.Addrs, Password: r.Password, MasterName: r.MasterName}
}

// redisView is Redis without its methods, for marshalling the redacted copy.
type redisView struct {
	URL        string   `yaml:"url,omitempty"`
	Addrs      []string `yaml:"addrs,omitempty"`
	Password   Secret   `yaml:"password,omitempty"`
	MasterName string   `yaml:"masterName,omitempty"`
}

// String prints r with its password and any credentials in URL masked.
func (r Redis) String() string { return fmt.Sprintf("%+v", r.redacted()) }

// GoString prints r for %#v with its password and any credentials in URL
// masked.
func (r Redis) GoString() string { return fmt.Sprintf("%#v", r.redacted()) }

// MarshalYAML writes r with any credentials in URL masked.
func (r Redis) MarshalYAML() (any, error) { return r.redacted(), nil }

// MarshalJSON writes r with any credentials in URL masked.
func (r Redis) MarshalJSON() ([]byte, error) { return json.Marshal(r.redacted()) }

// redactURL masks the userinfo of a URL: the password when there is one,
// else the user name (redis://secret@host is sometimes meant as a password).
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return redacted
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		return u.Redacted()
	}
	u.User = url.User("xxxxx")
	return u.String()
}
