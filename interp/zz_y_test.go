package interp

import (
	"fmt"
	"testing"

	yaegi "github.com/traefik/yaegi/interp"
)

func TestY(t *testing.T) {
	for _, src := range []string{
		`{ func() { a := 1; { var r bool; seq(func(x int) bool { if x > 3 { a += 100; { r = true; return false } }; return true }); if r { return } }; a = -1 }() }`,
		`{ func() { a := 1; { var r bool; seq(func(x int) bool { if x > 3 { a += 100; r = true; return false }; return true }); if r { return } }; a = -1 }() }`,
		`{ func() { a := 1; var r bool; seq(func(x int) bool { if x > 3 { a += 100; r = true; return false }; return true }); if r { return }; a = -1 }() }`,
		`{ func() { a := 1; var r bool; seq(func(x int) bool { if x > 3 { a += 100; r = true; return false }; return true }); if r { println(a) }; a = -1 }() }`,
	} {
		yi := yaegi.New(yaegi.Options{})
		yi.Eval("var seq = func(yield func(int) bool) { yield(1); yield(5) }")
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Printf("PANIC %v\n", r)
				}
			}()
			_, err := yi.Eval(src)
			fmt.Printf("%v\n", err)
		}()
	}
}
