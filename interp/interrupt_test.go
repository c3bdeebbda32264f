//go:build !race

// yaegi races with itself when a run is cancelled (ExecuteWithContext): make test runs these without -race.

package interp

import (
	"context"
	"testing"
)

// A cell interrupted while its imports run keeps them: the interpreter has declared them, so the next cell that
// uses (or imports) the package must not declare it again ("time/_.go redeclared in this block").
func TestImportsOfAnInterruptedCellStay(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Eval(interrupted, "import \"time\"\ntime.Sleep(time.Hour)"); err == nil {
		t.Fatal("the interrupted cell should fail")
	}
	for _, cell := range []string{"time.Sleep(time.Millisecond)", "import \"time\"\nd := time.Millisecond", "d + time.Second"} {
		if _, err := s.Eval(context.Background(), cell); err != nil {
			t.Fatalf("%q after the interrupt: %v", cell, err)
		}
	}
}
