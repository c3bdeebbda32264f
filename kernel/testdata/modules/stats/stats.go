// Package stats is a module the kernel's tests serve from a file-system proxy.
package stats

// Mean is the mean of xs.
func Mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Map applies f to each of xs: generic, so it has no compiled symbol.
func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
