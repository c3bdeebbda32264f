// Command compiled is a Go program, built with `go build`, that dispatches its own electrons. Their worker binary
// is the program's own executable, which it uploads to the dispatcher before its first dispatch (once per
// build: the dispatcher keeps it by the sha256 of its content), and which the dispatcher's workers start to run
// the electrons. Run it against a dispatcher:
//
//	govalent start
//	go build -o sumsquares ./examples/compiled
//	./sumsquares 10
//
// The rule that makes this work: electrons are package-level values, made at init, and main calls ct.Main
// first (see the README's "Compiled programs").
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/govalent/govalent/ct"
)

func Sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// RanIn names the executable an electron runs in: the dispatcher's copy of this program, named by its sha256.
func RanIn() (string, error) {
	exe, err := os.Executable()
	return filepath.Base(exe), err
}

var (
	square = ct.Electron(func(x int) int { return x * x }) // func literals are electrons too
	sum    = ct.Electron(Sum)
	ranIn  = ct.Electron(RanIn)
)

var sumOfSquares = ct.Lattice(func(n int) map[string]any {
	var squares []ct.Future
	for i := 1; i <= n; i++ {
		squares = append(squares, square(i))
	}
	return map[string]any{"sum": sum(squares), "ran_in": ranIn()}
})

func main() {
	ct.Main() // first: started by a worker, the program serves its electrons here, and main goes no further

	n := 10
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil {
			fmt.Fprintln(os.Stderr, "usage: sumsquares [N]")
			os.Exit(2)
		}
	}
	res, err := ct.DispatchSync(sumOfSquares, n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if res.Status != ct.StatusCompleted {
		fmt.Fprintln(os.Stderr, res)
		os.Exit(1)
	}
	var out struct {
		Sum   int    `json:"sum"`
		RanIn string `json:"ran_in"`
	}
	if err := res.Decode(&out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("sum of squares 1..%d = %d (dispatch %s; electrons ran in executable %s)\n", n, out.Sum, res.DispatchID, out.RanIn)
}
