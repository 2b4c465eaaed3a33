package manager

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven ..."},
		{"ééééé", 8, "éé..."}, // é is 2 bytes: no rune is split
	}
	for _, c := range cases {
		if got := truncate(c.in, c.n); got != c.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
	long := truncate(strings.Repeat("ü", 2000), maxNote)
	if len(long) > maxNote || !utf8.ValidString(long) {
		t.Errorf("truncated note has %d bytes (valid UTF-8: %v)", len(long), utf8.ValidString(long))
	}
}
