package set

import (
	"testing"
)

func TestIndices(t *testing.T) {
	many := make([]int32, 0, 3000)
	for i := range int32(3000) {
		many = append(many, 2*i) // no two adjacent: one range each
	}
	cases := []struct {
		in   []int32
		want string
	}{
		{[]int32{3}, "3"},
		{[]int32{2, 1, 0, 5, 7, 8}, "0-2, 5, 7-8"},
		{[]int32{999, 998, 997}, "997-999"},
		{many, "0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, and 2980 more"},
	}
	for _, c := range cases {
		if got := indices(c.in); got != c.want {
			t.Errorf("indices(%v...) = %q, want %q", c.in[:min(len(c.in), 5)], got, c.want)
		}
	}
}
