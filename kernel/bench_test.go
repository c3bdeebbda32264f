package kernel

import (
	"testing"
	"time"
)

// BenchmarkTrivialCellRoundTrip times what a frontend waits for a trivial cell: from the execute_request to
// the idle status after its reply, through the kernel's sockets (issue 15 keeps it under 1.5 ms). The cells are
// not stored in the history, so that they all have one name: the interpreter numbers each cell name it sees,
// up to a thousand or so.
func BenchmarkTrivialCellRoundTrip(b *testing.B) {
	_, c := startTestKernel(b)
	run := func() {
		c.request(c.shell, "execute_request", map[string]any{"code": "1 + 1", "silent": false, "store_history": false})
		if rep := c.reply(c.shell, 30*time.Second); rep == nil || content(rep)["status"] != "ok" {
			b.Fatalf("%v", rep)
		}
		c.drainUntilIdle(5 * time.Second)
	}
	run()
	for b.Loop() {
		run()
	}
}
