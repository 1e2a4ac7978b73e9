package upstream

import (
	"encoding/json"
	"slices"
	"testing"
)

// modulesGeneral is decodeModules' general path for an array, which
// plainStrings must agree with wherever it answers.
func modulesGeneral(raw []byte) ([]string, bool) {
	var items []any
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, scalarStrings(it)...)
	}
	return out, true
}

// TestPlainStrings: the fast path answers the arrays of plain strings, the
// same as the general path, and leaves everything else to it.
func TestPlainStrings(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		want   []string
		wantOK bool
	}{
		{`[]`, []string{}, true},
		{`[ ]`, []string{}, true},
		{`["a"]`, []string{"a"}, true},
		{` [ "dialogs" , "faqs","" ] `[1:], []string{"dialogs", "faqs", ""}, true},
		{"[\"ünï\",\n\t\"b\"]", []string{"ünï", "b"}, true},
		{`["a\"b"]`, nil, false},    // an escape: the general path
		{`["a", 1]`, nil, false},    // a number
		{`["a", null]`, nil, false}, // null is dropped by the general path
		{`["a",]`, nil, false},      // invalid JSON
		{`["a"] x`, nil, false},     // trailing garbage
		{`["a"`, nil, false},        // truncated
		{"[\"\xff\"]", nil, false},  // invalid UTF-8
		{"[\"a\x01\"]", nil, false}, // a control character
	} {
		got, ok := plainStrings([]byte(tc.raw))
		if ok != tc.wantOK || (ok && !slices.Equal(got, tc.want)) {
			t.Errorf("plainStrings(%q) = %q, %v; want %q, %v", tc.raw, got, ok, tc.want, tc.wantOK)
		}
		if ok {
			if general, gok := modulesGeneral([]byte(tc.raw)); !gok || !slices.Equal(general, got) {
				t.Errorf("plainStrings(%q) = %q, the general path %q, %v", tc.raw, got, general, gok)
			}
		}
	}
}

// FuzzPlainStrings: wherever the fast path answers, the general path gives
// the same strings.
func FuzzPlainStrings(f *testing.F) {
	for _, s := range []string{`[]`, `["a","b"]`, `[ "x" ,"" ]`, `["a\"b"]`, `["a",1]`, "[\"\xff\"]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) == 0 || raw[0] != '[' {
			return
		}
		got, ok := plainStrings(raw)
		if !ok {
			return
		}
		general, gok := modulesGeneral(raw)
		if !gok || !slices.Equal(general, got) {
			t.Fatalf("plainStrings(%q) = %q, the general path %q, %v", raw, got, general, gok)
		}
	})
}
