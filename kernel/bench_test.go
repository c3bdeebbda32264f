package kernel

import "testing"

// BenchmarkTrivialCellRoundTrip times what a frontend waits for a trivial cell: from the execute_request to
// the idle status after its reply, through the kernel's sockets (issue 15 keeps it under 1.5 ms).
func BenchmarkTrivialCellRoundTrip(b *testing.B) {
	_, c := startTestKernel(b)
	c.execute("1 + 1", false)
	b.ResetTimer()
	for b.Loop() {
		if rep, _ := c.execute("1 + 1", false); content(rep)["status"] != "ok" {
			b.Fatalf("%s", rep.Content)
		}
	}
}
