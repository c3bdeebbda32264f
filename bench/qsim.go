//go:build ignore

// qsim against the memory wall: the time per gate of the state-vector simulator at 20 and 26 qubits, next to
// the time the machine needs just to move the state through memory once (read all of it, write all of it),
// measured just before with a parallel copy of a buffer the size of the state on the same cores. Run with
// `go run bench/qsim.go` (26 qubits take 1 GiB of state and 2 GiB of copy buffers). QUBITS=20,26 and REPS=5
// override the defaults; times are the best of REPS, to see through other load on the machine.
// Prints the copy bandwidth per size, then one line per gate: time per gate, bytes moved, the copy bound and
// their ratio.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent/ct/quantum"
	"github.com/govalent/govalent/executors/circuit/qsim"
)

// copyTime is how long one parallel copy of src into dst takes.
func copyTime(dst, src []byte) time.Duration {
	workers := runtime.GOMAXPROCS(0)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := len(src)*w/workers, len(src)*(w+1)/workers
		wg.Add(1)
		go func() { defer wg.Done(); copy(dst[lo:hi], src[lo:hi]) }()
	}
	wg.Wait()
	return time.Since(start)
}

func main() {
	qubits := []int{20, 26}
	if s := os.Getenv("QUBITS"); s != "" {
		qubits = nil
		for _, f := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(f)
			qubits = append(qubits, n)
		}
	}
	reps := 5
	if s := os.Getenv("REPS"); s != "" {
		reps, _ = strconv.Atoi(s)
	}
	fmt.Printf("qsim_bench cores=%d reps=%d\n", runtime.GOMAXPROCS(0), reps)
	for _, n := range qubits {
		size := 16 << n
		s, err := qsim.New(n)
		if err != nil {
			panic(err)
		}
		var ms runtime.MemStats // the simulator's memory: the heap before the copy buffers exist
		runtime.ReadMemStats(&ms)
		src, dst := make([]byte, size), make([]byte, size)
		for i := range src {
			src[i] = byte(i)
		}
		// touched is the share of the state's cache lines a gate reads and writes: a control above qubit 1 (a
		// 64-byte line holds 4 amplitudes) leaves half of them alone, so does a swap of two qubits above 1.
		gates := []struct {
			name    string
			op      quantum.Op
			touched float64
		}{
			{"h q0", quantum.Op{Gate: "h", Qubits: []int{0}}, 1},
			{"h q" + strconv.Itoa(n-1), quantum.Op{Gate: "h", Qubits: []int{n - 1}}, 1},
			{"rz q5", quantum.Op{Gate: "rz", Qubits: []int{5}, Params: []float64{0.3}}, 1},
			{"cx q3,q9", quantum.Op{Gate: "x", Qubits: []int{3, 9}, Controls: 1}, 0.5},
			{"swap q1,q" + strconv.Itoa(n-2), quantum.Op{Gate: "swap", Qubits: []int{1, n - 2}}, 1},
		}
		for _, g := range gates {
			// Copies and gates alternate, and each keeps its best time, so that both see the same machine.
			gate, cp := time.Duration(1<<62), time.Duration(1<<62)
			for r := 0; r < reps; r++ {
				cp = min(cp, copyTime(dst, src))
				start := time.Now()
				if err := s.Apply(g.op); err != nil {
					panic(err)
				}
				gate = min(gate, time.Since(start))
			}
			moved := 2 * float64(size) * g.touched // read and written once
			bw := 2 * float64(size) / cp.Seconds()
			bound := time.Duration(moved / bw * 1e9)
			fmt.Printf("qsim_gate qubits=%d gate=%q time_per_gate=%s bytes_moved=%.0f copy_bandwidth=%.1fGB/s bound=%s ratio=%.2f state_MiB=%d heap_MiB=%d\n",
				n, g.name, gate.Round(time.Microsecond), moved, bw/1e9, bound.Round(time.Microsecond),
				gate.Seconds()/bound.Seconds(), size>>20, ms.HeapInuse>>20)
		}
		s, src, dst = nil, nil, nil
		runtime.GC()
	}
}
