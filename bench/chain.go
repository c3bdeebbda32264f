//go:build ignore

// A chain of two electrons that moves a large value: Make(n, scale) returns a []float64 of n elements
// (5,000,000 by default, $N), Sum adds them up. Run with `govalent run bench/chain.go` against a running dispatcher; it
// dispatches once with 1,000 elements to warm up (the same program: the native build, the worker processes),
// then once timed with scale $SCALE (default 1; a new value each run, so the result store cannot find it stored
// already), and prints one line, every time in seconds:
//
//	chain tier=TIER n=N submit_s=... completed_s=... result_s=... server_s=... make_s=... between_s=... sum_s=...
//	  queue_s=... finish_s=...
//
// completed_s is ct.Dispatch until the client sees the status COMPLETED (ct.Client.Watch, which moves no
// values); result_s until ct.GetResult(id, true) returns, which also fetches and decodes every node's output
// (the 5,000,000 floats included). The rest is the dispatcher's timeline, from the result's times: queue_s is
// the dispatch's start to Make's start, make_s and sum_s the nodes' run times (as the worker measures them:
// the call, with its values' encoding and decoding and their pipe to the native worker), between_s Make's end
// to Sum's start (the output's way back to the dispatcher, storing it, and Sum's task with that value as its
// argument on its way to a worker), finish_s Sum's end to the dispatch's end. TIER ($TIER) only labels the line.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	ct "github.com/govalent/govalent/ct"
)

// Make returns n floats with all their digits (scaled square roots), as measured data would have.
func Make(n int, scale float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = scale * math.Sqrt(float64(i))
	}
	return xs
}

func Sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}

var makeFloats = ct.Electron(Make)
var sum = ct.Electron(Sum)

var chain = ct.Lattice(func(n int, scale float64) ct.Future { return sum(makeFloats(n, scale)) })

func main() {
	n := 5000000
	if v := os.Getenv("N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			panic(fmt.Sprintf("N=%q: %v", v, err))
		}
	}
	scale := 1.0
	if v := os.Getenv("SCALE"); v != "" {
		var err error
		if scale, err = strconv.ParseFloat(v, 64); err != nil {
			panic(fmt.Sprintf("SCALE=%q: %v", v, err))
		}
	}
	timed(1000, 1, 0)
	fmt.Printf("chain tier=%s n=%d %s\n", os.Getenv("TIER"), n, timed(n, scale, scale*sqrtSum(n)))
}

// sqrtSum is Sum(Make(n, 1)) by the Euler-Maclaurin formula, to 1e-9 relative for n of a million or more:
// 2/3 n^1.5 - 1/2 n^0.5 + zeta(-1/2).
func sqrtSum(n int) float64 {
	x := float64(n)
	return 2.0/3.0*x*math.Sqrt(x) - 0.5*math.Sqrt(x) - 0.2078862249773545
}

func timed(n int, scale, want float64) string {
	client := ct.NewClient(ct.DispatcherURL())
	t0 := time.Now()
	id, err := ct.Dispatch(chain, n, scale)
	if err != nil {
		panic(err)
	}
	submitted := time.Since(t0).Seconds()
	watch, err := client.Watch(context.Background(), id)
	if err != nil {
		panic(err)
	}
	for range watch {
	}
	completed := time.Since(t0).Seconds()
	res, err := ct.GetResult(id, true)
	if err != nil {
		panic(err)
	}
	fetched := time.Since(t0).Seconds()
	got, ok := res.Result.(float64)
	if res.Status != ct.StatusCompleted || want != 0 && (!ok || math.Abs(got-want) > 1e-9*math.Abs(want)) { // want 0: not checked
		panic(fmt.Sprintf("dispatch %s: status %s, result %v, want %v (error: %s)", id, res.Status, res.Result, want, res.Error))
	}
	mk, sm := res.NodeByName("Make"), res.NodeByName("Sum")
	if mk == nil || sm == nil {
		panic(fmt.Sprintf("dispatch %s: no Make or Sum node", id))
	}
	secs := func(from, to *time.Time) float64 { return to.Sub(*from).Seconds() }
	return fmt.Sprintf("submit_s=%.3f completed_s=%.3f result_s=%.3f server_s=%.3f make_s=%.3f between_s=%.3f sum_s=%.3f queue_s=%.3f finish_s=%.3f",
		submitted, completed, fetched, secs(res.StartTime, res.EndTime), secs(mk.StartTime, mk.EndTime), secs(mk.EndTime, sm.StartTime),
		secs(sm.StartTime, sm.EndTime), secs(res.StartTime, mk.StartTime), secs(sm.EndTime, res.EndTime))
}
