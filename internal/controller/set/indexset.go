package set

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// indexSet is a set of group indices, kept as bits: a set's indices are
// dense (0 .. replicas+surge), so adding, removing and testing one costs
// a word, and walking the members in order skips 64 absent indices at a
// time.
type indexSet struct {
	words []uint64
	n     int32
}

// add puts i in the set.
func (s *indexSet) add(i int32) {
	w := int(i / 64)
	for len(s.words) <= w {
		s.words = append(s.words, 0)
	}
	if bit := uint64(1) << (i % 64); s.words[w]&bit == 0 {
		s.words[w] |= bit
		s.n++
	}
}

// remove takes i out of the set.
func (s *indexSet) remove(i int32) {
	w := int(i / 64)
	if w >= len(s.words) {
		return
	}
	if bit := uint64(1) << (i % 64); s.words[w]&bit != 0 {
		s.words[w] &^= bit
		s.n--
	}
}

// has reports whether i is in the set.
func (s *indexSet) has(i int32) bool {
	w := int(i / 64)
	return i >= 0 && w < len(s.words) && s.words[w]&(uint64(1)<<(i%64)) != 0
}

// len is the number of members.
func (s *indexSet) len() int32 {
	if s == nil {
		return 0
	}
	return s.n
}

// countBelow counts the members below n.
func (s *indexSet) countBelow(n int32) int32 {
	c := 0
	for w := 0; w < len(s.words) && int32(w*64) < n; w++ {
		word := s.words[w]
		if end := int32(w*64 + 64); end > n {
			word &= (uint64(1) << (n - int32(w*64))) - 1
		}
		c += bits.OnesCount64(word)
	}
	return int32(c)
}

// ascend calls f for each member from from up, lowest first, until f
// returns false.
func (s *indexSet) ascend(from int32, f func(int32) bool) {
	if s == nil {
		return
	}
	from = max(from, 0)
	for w := int(from / 64); w < len(s.words); w++ {
		word := s.words[w]
		if w == int(from/64) {
			word &^= (uint64(1) << (from % 64)) - 1
		}
		for word != 0 {
			b := bits.TrailingZeros64(word)
			if !f(int32(w*64 + b)) {
				return
			}
			word &^= uint64(1) << b
		}
	}
}

// descend calls f for each member below below, highest first, until f
// returns false.
func (s *indexSet) descend(below int32, f func(int32) bool) {
	if s == nil || below <= 0 {
		return
	}
	last := min(int((below-1)/64), len(s.words)-1)
	for w := last; w >= 0; w-- {
		word := s.words[w]
		if w == int((below-1)/64) {
			if r := (below-1)%64 + 1; r < 64 {
				word &= (uint64(1) << r) - 1
			}
		}
		for word != 0 {
			b := 63 - bits.LeadingZeros64(word)
			if !f(int32(w*64 + b)) {
				return
			}
			word &^= uint64(1) << b
		}
	}
}

// list is the members below below, lowest first.
func (s *indexSet) list(below int32) []int32 {
	var out []int32
	s.ascend(0, func(i int32) bool {
		if i >= below {
			return false
		}
		out = append(out, i)
		return true
	})
	return out
}

// maxRanges bounds the ranges an indexSet's String lists.
const maxRanges = 20

// String lists the members in ranges ("0-99, 120"), at most maxRanges of
// them, for a message: it walks only as far as the ranges it prints.
func (s *indexSet) String() string {
	var parts []string
	from, to, seen := int32(-2), int32(-2), int32(0)
	flush := func() {
		part := strconv.Itoa(int(from))
		if to > from {
			part += "-" + strconv.Itoa(int(to))
		}
		parts = append(parts, part)
	}
	done := false
	s.ascend(0, func(i int32) bool {
		if i == to+1 {
			to = i
			seen++
			return true
		}
		if from >= 0 {
			flush()
			if len(parts) == maxRanges {
				done = true
				return false
			}
		}
		from, to = i, i
		seen++
		return true
	})
	switch {
	case done:
		parts = append(parts, fmt.Sprintf("and %d more", s.len()-seen))
	case from >= 0:
		flush()
	}
	return strings.Join(parts, ", ")
}

// indicesOf is the set of ix.
func indicesOf(ix []int32) *indexSet {
	s := &indexSet{}
	for _, i := range ix {
		s.add(i)
	}
	return s
}
