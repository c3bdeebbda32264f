package interp

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchmarkCell measures a trivial cell's evaluation (type check and run) in a session set up by setup.
func benchmarkCell(b *testing.B, setup string) {
	s, err := New(Options{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Eval(context.Background(), setup); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Eval(context.Background(), "1 + 2"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrivialCell(b *testing.B) {
	benchmarkCell(b, "x := 1\nfunc f() int { return x }")
}

// A cell's check should cost what the cell uses, not the size of the session.
func BenchmarkTrivialCellInABigSession(b *testing.B) {
	var src strings.Builder
	src.WriteString("import \"fmt\"\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&src, "func F%d(x int) string { return fmt.Sprint(x) }\nv%d := F%d(%d)\n", i, i, i, i)
	}
	benchmarkCell(b, src.String())
}
