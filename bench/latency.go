//go:build ignore

// Low-load latency: a one-electron lattice dispatched RUNS times (default 50) one after another with
// ct.DispatchSync. Run with `govalent run bench/latency.go` against a running dispatcher.
// Prints one line: govalent_latency runs=N median_s=... p95_s=... min_s=... max_s=...
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	ct "github.com/govalent/govalent/ct"
)

func Inc(i int) int { return i + 1 }

var inc = ct.Electron(Inc)

var one = ct.Lattice(func(i int) ct.Future { return inc(i) })

func main() {
	runs := 50
	if v := os.Getenv("RUNS"); v != "" {
		var err error
		if runs, err = strconv.Atoi(v); err != nil {
			panic(fmt.Sprintf("RUNS=%q: %v", v, err))
		}
	}
	ts := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		res, err := ct.DispatchSync(one, i)
		if err != nil {
			panic(err)
		}
		el := time.Since(t0).Seconds()
		if res.Status != ct.StatusCompleted || res.Result != i+1 {
			panic(fmt.Sprintf("run %d: status %s, result %v, want %d (error: %s)", i, res.Status, res.Result, i+1, res.Error))
		}
		ts = append(ts, el)
	}
	sort.Float64s(ts)
	q := func(p float64) float64 { // nearest-rank percentile
		k := int(p*float64(len(ts))+0.999999) - 1
		if k < 0 {
			k = 0
		}
		return ts[k]
	}
	median := ts[len(ts)/2]
	if len(ts)%2 == 0 {
		median = (ts[len(ts)/2-1] + ts[len(ts)/2]) / 2
	}
	fmt.Printf("govalent_latency runs=%d median_s=%.4f p95_s=%.4f min_s=%.4f max_s=%.4f\n",
		runs, median, q(0.95), ts[0], ts[len(ts)-1])
}
