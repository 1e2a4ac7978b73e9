package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"HOST": "bots.kore.ai", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		in      string
		want    string
		problem string
	}{
		{"plain text is unchanged", "https://bots.kore.ai", "https://bots.kore.ai", ""},
		{"set variable is replaced", "https://${HOST}/", "https://bots.kore.ai/", ""},
		{"default is ignored when set", "${HOST:-x}", "bots.kore.ai", ""},
		{"default is used when unset", "${NOPE:-fallback}", "fallback", ""},
		{"default is used when empty", "${EMPTY:-fallback}", "fallback", ""},
		{"empty default is allowed", "a${NOPE:-}b", "ab", ""},
		{"double dollar is a literal dollar", "pa$$word", "pa$word", ""},
		{"escaped reference stays literal", "$${HOST}", "${HOST}", ""},
		{"lone dollar is kept", "cost $5 and $", "cost $5 and $", ""},
		{"unset variable is a problem", "a${NOPE}", "a${NOPE}", "NOPE is not set"},
		{"empty variable is a problem", "${EMPTY}", "${EMPTY}", "EMPTY is not set"},
		{"unterminated reference is a problem", "${HOST", "${HOST", "unterminated"},
		{"malformed name is a problem", "${1X}", "", "malformed variable reference"},
		{"dash without colon is a problem", "${NOPE-x}", "", "malformed variable reference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := expand(tc.in, getenv)
			if got != tc.want {
				t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
			switch {
			case tc.problem == "" && len(problems) > 0:
				t.Errorf("unexpected problems %q", problems)
			case tc.problem != "" && (len(problems) != 1 || !strings.Contains(problems[0], tc.problem)):
				t.Errorf("problems = %q, want one containing %q", problems, tc.problem)
			}
		})
	}
}

func TestParseExpandsVariablesInValues(t *testing.T) {
	env := map[string]string{"SECRET": "true", "CONC": "7", "PORT": "9090", "JTI": "true"}
	c := mustParse(t, `
allowUnauthenticated: true
listen: 127.0.0.1:${PORT}
environments:
  - name: ${ENV_NAME:-dev}
    host: http://127.0.0.1:9000
    clientId: cs-$$literal
    clientSecret: ${SECRET}
    concurrency: ${CONC}
    jti: ${JTI}
`, env)
	e := c.Environments[0]
	if c.Listen != "127.0.0.1:9090" || e.Name != "dev" || e.ClientID != "cs-$literal" ||
		e.ClientSecret.Reveal() != "true" || e.Concurrency != 7 || !e.JTI {
		t.Errorf("expansion gave listen %q, environment %+v (secret %q)", c.Listen, e, e.ClientSecret.Reveal())
	}
}

func TestParseReportsDecodeProblemsAtTheirKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // one line of Error()
	}{
		{
			"unset variable is reported at its key with its line",
			minimal + "    token: ${KORE_TOKEN}\n",
			"environments[0].token: environment variable KORE_TOKEN is not set (write ${KORE_TOKEN:-default} to give a default) (line 8)",
		},
		{
			"unknown key is reported with its path and a suggestion",
			minimal + "    clinetId: cs-2\n",
			"environments[0].clinetId: unknown key (did you mean clientId?) (line 8)",
		},
		{
			"unknown top-level key is reported",
			minimal + "caching:\n  ttl: 1s\n",
			"caching: unknown key",
		},
		{
			"unknown nested key is reported",
			minimal + "cache:\n  tll: 1s\n",
			"cache.tll: unknown key (did you mean ttl?) (line 9)",
		},
		{
			"duplicate key is reported",
			minimal + "listen: a:1\nlisten: b:2\n",
			"listen: duplicate key (first at line 8) (line 9)",
		},
		{
			"bad duration names what is expected",
			minimal + "cache:\n  ttl: 30\n",
			"cache.ttl: expected a duration such as 30s, 2m or 1h30m (line 9)",
		},
		{
			"text for a number names what is expected",
			minimal + "    concurrency: lots\n",
			"environments[0].concurrency: expected a whole number (line 8)",
		},
		{
			"fraction for a number names what is expected",
			minimal + "    concurrency: 1.5\n",
			"environments[0].concurrency: expected a whole number (line 8)",
		},
		{
			"list for a string names what is expected",
			minimal + "    token: [a, b]\n",
			"environments[0].token: expected a string (line 8)",
		},
		{
			"mapping for a list names what is expected",
			minimal + "    bots: {id: x}\n",
			"environments[0].bots: expected a list (line 8)",
		},
		{
			"document that is not a mapping is reported",
			"- just\n- a list\n",
			"(top level): expected a mapping (line 1)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verr := mustProblems(t, tc.yaml, nil)
			for _, line := range strings.Split(verr.Error(), "\n") {
				if strings.HasPrefix(line, tc.want) {
					return
				}
			}
			t.Errorf("Error() =\n%s\nwant a line starting %q", verr.Error(), tc.want)
		})
	}
}

func TestParseReportsUnsetVariableOnce(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantKey string
	}{
		{"unset client secret", minimal + "  - {name: b, host: 'http://h', clientId: c, clientSecret: '${KORE_SECRET}'}\n", "environments[1].clientSecret"},
		{"unset token", minimal + "  - {name: b, host: 'http://h', token: '${KORE_TOKEN}'}\n", "environments[1].token"},
		{"unset host", minimal + "  - {name: b, host: '${KORE_HOST}', token: t}\n", "environments[1].host"},
		{"unset number", minimal + "    concurrency: ${CONC}\n", "environments[0].concurrency"},
		{"unset HMAC secret", minimal + "auth:\n  hmacSecret: ${JWT_SECRET}\n", "auth.hmacSecret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verr := mustProblems(t, tc.yaml, nil)
			if len(verr.Problems) != 1 || verr.Problems[0].Key != tc.wantKey ||
				!strings.Contains(verr.Problems[0].Message, "is not set") {
				t.Errorf("problems = %v, want only the unset variable at %s", verr.Problems, tc.wantKey)
			}
		})
	}
}

func TestParseHonoursAnchorsAndMergeKeys(t *testing.T) {
	c := mustParse(t, `
allowUnauthenticated: true
environments:
  - &base
    name: one
    host: http://127.0.0.1:9000
    clientId: cs-1
    clientSecret: ${S:-s}
    concurrency: 4
  - <<: *base
    name: two
`, nil)
	if len(c.Environments) != 2 {
		t.Fatalf("environments = %d, want 2", len(c.Environments))
	}
	two := c.Environments[1]
	if two.Name != "two" || two.Host != "http://127.0.0.1:9000" || two.Concurrency != 4 || two.ClientSecret.Reveal() != "s" {
		t.Errorf("merged environment = %+v", two)
	}
}

func TestParseKeepsNullAsDefault(t *testing.T) {
	c := mustParse(t, minimal+"    concurrency:\ncache:\n  ttl: ~\n", nil)
	if c.Environments[0].Concurrency != 32 || c.Cache.TTL != Default().Cache.TTL {
		t.Errorf("null values did not keep defaults: concurrency %d, ttl %v", c.Environments[0].Concurrency, c.Cache.TTL)
	}
}
