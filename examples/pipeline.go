//go:build ignore

// The pipeline from the README. Run it with `govalent run --embedded examples/pipeline.go` (or without
// --embedded against a dispatcher started by `govalent start`). govalent evaluates the file as one notebook
// cell and then calls main; the same declarations work pasted into notebook cells.
package main

import (
	"fmt"

	ct "github.com/govalent/govalent/ct"
)

func Add(a, b int) int { return a + b }
func Square(x int) int { return x * x }
func Total(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

var add = ct.Electron(Add)
var square = ct.Electron(Square, ct.Executor("local"))
var total = ct.Electron(Total)
var double = ct.Electron(func(x int) int { return 2 * x }) // func literals are electrons too

var pipeline = ct.Lattice(func(n int) ct.Future {
	var parts []ct.Future
	for i := 0; i < n; i++ {
		parts = append(parts, square(add(i, 1)))
	}
	return double(total(parts))
})

func main() {
	id, err := ct.Dispatch(pipeline, 10)
	if err != nil {
		panic(err)
	}
	fmt.Println("dispatched", id)
	res, err := ct.GetResult(id, true)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status, res.Result)
	if res.Result != 770 {
		panic(fmt.Sprint("expected 770, got ", res.Result))
	}
}
