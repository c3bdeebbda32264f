// Helpers of govalent's port of package slices: they stand in for what yaegi v0.16.1 cannot interpret in the
// Go sources (the clear, min and max builtins, unsafe pointer arithmetic, cmp.Compare called from Compare).

package slices

import (
	"cmp"
	"math"
	"reflect"
)

// clearElems sets the elements of s to their zero value, as clear(s) does.
func clearElems[S ~[]E, E any](s S) {
	var zero E
	for i := range s {
		s[i] = zero
	}
}

// holds reports whether p is the address of one of the elements of s.
func holds[E any](s []E, p *E) bool {
	for i := range s {
		if &s[i] == p {
			return true
		}
	}
	return false
}

// compareOrdered is cmp.Compare. yaegi keeps one instance of a generic function per name and type arguments,
// whatever its package, so cmp.Compare[int] called from here would be this package's Compare[int].
func compareOrdered[T cmp.Ordered](x, y T) int {
	xNaN, yNaN := x != x, y != y
	switch {
	case xNaN && yNaN:
		return 0
	case xNaN || x < y:
		return -1
	case yNaN || x > y:
		return +1
	}
	return 0
}

// minOrdered is the min builtin of two values: a NaN wins, and -0.0 is less than +0.0.
func minOrdered[T cmp.Ordered](a, b T) T {
	switch {
	case a != a || a < b:
		return a
	case b != b || b < a:
		return b
	case negativeZero(a):
		return a
	}
	return b
}

// maxOrdered is the max builtin of two values: a NaN wins, and +0.0 is greater than -0.0.
func maxOrdered[T cmp.Ordered](a, b T) T {
	switch {
	case a != a || a > b:
		return a
	case b != b || b > a:
		return b
	case negativeZero(a):
		return b
	}
	return a
}

// negativeZero reports whether v is a floating-point -0.0, the one case where equal ordered values differ.
func negativeZero[T cmp.Ordered](v T) bool {
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Float32, reflect.Float64:
		return r.Float() == 0 && math.Signbit(r.Float())
	}
	return false
}
