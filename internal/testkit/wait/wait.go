// Package wait is the tests' one way to wait for something another goroutine or process does: it polls a
// condition, so a test ends as soon as the condition holds and fails with what it waited for when it never does.
package wait

import (
	"testing"
	"time"
)

// For polls cond until it holds, and fails t if it does not within limit.
func For(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(pause)
	}
}
