package builtins

import (
	"sort"
	"strings"
)

// Nearest returns the candidate that x is most likely a misspelling of, or
// "" if none is close: at an edit distance (ignoring case, and counting a
// swap of two neighbouring letters as one edit) below half of x's length.
// Ties go to the first candidate in sorted order.
func Nearest(x string, candidates []string) string {
	cs := append([]string(nil), candidates...)
	sort.Strings(cs)
	lx := strings.ToLower(x)
	best, bestD := "", (len(x)+1)/2
	for _, c := range cs {
		if c == x {
			continue
		}
		if d := distance(lx, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes.
func distance(a, b string) int {
	if a == b {
		return 0
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
