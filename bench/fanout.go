//go:build ignore

// Fan-out/fan-in benchmark: N trivial electrons Inc(i), then one Total over their []int.
// Run with `govalent run bench/fanout.go` against a running dispatcher; N comes from $N (default 10000).
// Prints one line: govalent tasks=N build_dispatch_s=... dispatch_to_completed_s=... server_s=... per_task_us=...
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	ct "github.com/govalent/govalent/ct"
)

func Inc(i int) int { return i + 1 }
func Total(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

var inc = ct.Electron(Inc)
var total = ct.Electron(Total)

var fanout = ct.Lattice(func(n int) ct.Future {
	parts := make([]ct.Future, n)
	for i := 0; i < n; i++ {
		parts[i] = inc(i)
	}
	return total(parts)
})

func main() {
	n := 10000
	if v := os.Getenv("N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			panic(fmt.Sprintf("N=%q: %v", v, err))
		}
	}

	t0 := time.Now()
	id, err := ct.Dispatch(fanout, n)
	if err != nil {
		panic(err)
	}
	t1 := time.Now()
	res, err := ct.GetResult(id, true)
	if err != nil {
		panic(err)
	}
	t2 := time.Now()

	want := n * (n + 1) / 2 // sum of i+1 for i in 0..n-1
	if res.Status != ct.StatusCompleted || res.Result != want {
		panic(fmt.Sprintf("dispatch %s: status %s, result %v, want %d (error: %s)", id, res.Status, res.Result, want, res.Error))
	}
	wall := t2.Sub(t0).Seconds()
	server := res.EndTime.Sub(*res.StartTime).Seconds()
	fmt.Printf("govalent tasks=%d build_dispatch_s=%.3f dispatch_to_completed_s=%.3f server_s=%.3f per_task_us=%.1f\n",
		n, t1.Sub(t0).Seconds(), wall, server, wall/float64(n+1)*1e6)
}
