package main

import (
	"math"
	"testing"
)

// The figures bench/native_run.sh compares the electrons' run times with: `go test -bench 'Fib|MatMul'`.

var sink any // keeps results alive

func BenchmarkFib30(b *testing.B) {
	for b.Loop() {
		sink = Fib(30)
	}
}

func BenchmarkMatMul200(b *testing.B) {
	for b.Loop() {
		sink = MatMul(200)
	}
}

func TestFib(t *testing.T) {
	for n, want := range []int{0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55} {
		if got := Fib(n); got != want {
			t.Errorf("Fib(%d) = %d, want %d", n, got, want)
		}
	}
	if got := Fib(30); got != 832040 {
		t.Errorf("Fib(30) = %d, want 832040", got)
	}
}

// TestMatMul checks MatMul against the product's sum computed another way: sum over i,j of (AB)ij is
// sum over k of (column k's sum of A) × (row k's sum of B).
func TestMatMul(t *testing.T) {
	for _, n := range []int{1, 2, 7, 30} {
		a, b := make([]float64, n*n), make([]float64, n*n)
		for i := range a {
			a[i] = float64(i%7) - 3
			b[i] = float64(i%5) * 0.5
		}
		want := 0.0
		for k := 0; k < n; k++ {
			colA, rowB := 0.0, 0.0
			for i := 0; i < n; i++ {
				colA += a[i*n+k]
				rowB += b[k*n+i]
			}
			want += colA * rowB
		}
		if got := MatMul(n); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("MatMul(%d) = %v, want %v", n, got, want)
		}
	}
}
