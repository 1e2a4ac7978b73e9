package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// configurationDoc is the configuration reference, relative to this package.
const configurationDoc = "../docs/configuration.md"

// TestConfigurationDocMatchesDecoder holds docs/configuration.md to the
// decoder: every key in the first column of a key table there must be one
// Parse accepts, and every key Parse accepts must have a row.
func TestConfigurationDocMatchesDecoder(t *testing.T) {
	text, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	documented, problems := documentedKeys(string(text))
	for _, p := range problems {
		t.Errorf("%s: %s", configurationDoc, p)
	}
	if len(documented) == 0 {
		t.Fatalf("%s: no key table found (a table whose first header cell is \"key\")", configurationDoc)
	}
	leaves, sections := acceptedKeys(reflect.TypeFor[Config]())

	var unknown []string
	for _, d := range documented {
		if d.wildcard {
			if !slices.ContainsFunc(leaves, func(k string) bool { return strings.HasPrefix(k, d.key+".") }) {
				unknown = append(unknown, d.key+".* (line "+fmt.Sprint(d.line)+")")
			}
			continue
		}
		if !slices.Contains(leaves, d.key) && !slices.Contains(sections, d.key) {
			unknown = append(unknown, d.key+" (line "+fmt.Sprint(d.line)+")")
		}
	}
	var undocumented []string
	for _, k := range leaves {
		if !slices.ContainsFunc(documented, func(d docKey) bool { return !d.wildcard && d.key == k }) {
			undocumented = append(undocumented, k)
		}
	}
	if len(unknown) > 0 {
		t.Errorf("%s documents keys the decoder does not accept:\n\t%s", configurationDoc, strings.Join(unknown, "\n\t"))
	}
	if len(undocumented) > 0 {
		t.Errorf("the decoder accepts keys %s has no row for:\n\t%s", configurationDoc, strings.Join(undocumented, "\n\t"))
	}
}

// acceptedKeys walks t as the decoder does (decode in decode.go): a pointer
// is followed, a Duration or anything that is neither a struct nor a slice
// is a leaf, a struct is a mapping of its yaml-tagged fields (yamlFields,
// the decoder's own list, so a key it refuses is not here), and a slice is
// a leaf when its elements are leaves, else a sequence of mappings written
// key[].field. leaves are the keys that take a value; sections are the keys
// that hold other keys (auth, environments, environments[].bots).
func acceptedKeys(t reflect.Type) (leaves, sections []string) {
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		isLeaf := func(t reflect.Type) bool {
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			return t == durationType || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice
		}
		switch {
		case path != "" && isLeaf(t):
			leaves = append(leaves, path)
		case t.Kind() == reflect.Slice:
			if isLeaf(t.Elem()) {
				leaves = append(leaves, path)
				return
			}
			sections = append(sections, path)
			walk(t.Elem(), path+"[]")
		default:
			if path != "" && !strings.HasSuffix(path, "[]") {
				sections = append(sections, path)
			}
			for name, i := range yamlFields(t) {
				walk(t.Field(i).Type, joinKey(path, name))
			}
		}
	}
	walk(t, "")
	slices.Sort(leaves)
	slices.Sort(sections)
	return leaves, sections
}

// docKey is a key named in the first column of a key table.
type docKey struct {
	key      string
	wildcard bool // written key.*: a section, documented row by row elsewhere
	line     int
}

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	keyShape   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(\[\])?(\.[A-Za-z][A-Za-z0-9]*(\[\])?)*(\.\*)?$`)
)

// documentedKeys returns the keys in the first column of every table of
// markdown whose header's first cell is "key". A cell may name several
// keys (`log.format`, `log.level`, or `redis.url` / `redis.addrs`); a name
// without a dot after one with a dot is a sibling of it
// (`environments[].ratePerMinute`, `botRatePerMinute`). A backticked text
// in that column that is not shaped like a key is a problem, not skipped.
func documentedKeys(markdown string) (keys []docKey, problems []string) {
	lines := strings.Split(markdown, "\n")
	inTable, fence := false, false
	for i, line := range lines {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		first := firstCell(line)
		if !inTable {
			if first == "key" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "|---") {
				inTable = true
			}
			continue
		}
		if strings.HasPrefix(line, "|---") {
			continue
		}
		parent := ""
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			name := m[1]
			if !keyShape.MatchString(name) {
				problems = append(problems, fmt.Sprintf("line %d: %q in the key column is not a key", i+1, name))
				continue
			}
			if !strings.Contains(name, ".") && parent != "" {
				name = parent + "." + name
			}
			if j := strings.LastIndex(name, "."); j >= 0 {
				parent = name[:j]
			}
			key, wildcard := strings.CutSuffix(name, ".*")
			keys = append(keys, docKey{key: key, wildcard: wildcard, line: i + 1})
		}
	}
	return keys, problems
}

// firstCell returns the first cell of a table row, trimmed; a | inside
// backticks does not end it.
func firstCell(row string) string {
	row = strings.TrimPrefix(row, "|")
	inCode := false
	for i, r := range row {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|' && !inCode:
			return strings.TrimSpace(row[:i])
		}
	}
	return strings.TrimSpace(row)
}

// TestDocsLinksResolve checks every relative link of README.md and docs/:
// the file exists and, for a markdown file, so does the #anchor.
func TestDocsLinksResolve(t *testing.T) {
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../README.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := make(map[string]map[string]bool)
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		anchors[path] = headingAnchors(string(text))
		return anchors[path]
	}
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		fence := false
		for n, line := range strings.Split(string(text), "\n") {
			if strings.HasPrefix(line, "```") {
				fence = !fence
			}
			if fence {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if regexp.MustCompile(`^[a-z]+:`).MatchString(target) {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), file)
					if _, err := os.Stat(path); err != nil {
						t.Errorf("%s:%d: link %s: %v", page, n+1, target, err)
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(path, ".md") && !anchorsOf(path)[anchor] {
					t.Errorf("%s:%d: link %s: no heading with anchor #%s in %s", page, n+1, target, anchor, path)
				}
			}
		}
	}
}

// headingAnchors returns the anchors GitHub gives the headings of markdown:
// lower case, punctuation dropped, spaces as hyphens, -1, -2... on repeats.
func headingAnchors(markdown string) map[string]bool {
	drop := regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
	heading := regexp.MustCompile(`^#{1,6} (.*)`)
	anchors := make(map[string]bool)
	count := make(map[string]int)
	fence := false
	for _, line := range strings.Split(markdown, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		m := heading.FindStringSubmatch(line)
		if fence || m == nil {
			continue
		}
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), ""), " ", "-")
		if c := count[a]; c > 0 {
			anchors[fmt.Sprintf("%s-%d", a, c)] = true
		} else {
			anchors[a] = true
		}
		count[a]++
	}
	return anchors
}
