package clip_test

import (
	"testing"

	"github.com/publishgate/publishgate/internal/clip"
)

func TestString(t *testing.T) {
	cases := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{name: "empty stays empty", s: "", n: 3, want: ""},
		{name: "shorter than the limit is unchanged", s: "ab", n: 3, want: "ab"},
		{name: "exactly the limit is unchanged", s: "abc", n: 3, want: "abc"},
		{name: "longer than the limit is cut and marked", s: "abcd", n: 3, want: "abc…"},
		{name: "a zero limit keeps only the mark", s: "a", n: 0, want: "…"},
		{name: "the cut counts bytes, not runes", s: "éé", n: 3, want: "é\xc3…"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := clip.String(tc.s, tc.n); got != tc.want {
				t.Errorf("String(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
		})
	}
}
