//go:build !race

package kernel

// This test is left out of -race runs (make test runs it in its plain pass): when a cell is interrupted,
// yaegi's ExecuteWithContext returns while its own goroutine later writes the same result variables, a race
// inside yaegi that the detector reports whatever the kernel does.

import (
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestInterruptStopsABlockingCell(t *testing.T) {
	_, c := startTestKernel(t)
	c.request(c.shell, "execute_request", map[string]any{"code": "import \"time\"\ntime.Sleep(time.Hour)", "silent": false})
	time.Sleep(500 * time.Millisecond)
	c.request(c.control, "interrupt_request", map[string]any{})
	if m := c.reply(c.control, 5*time.Second); m == nil || m.Header.MsgType != "interrupt_reply" {
		t.Fatal("no interrupt_reply")
	}
	rep := c.reply(c.shell, 10*time.Second)
	if rep == nil || content(rep)["status"] != "error" || content(rep)["ename"] != "Interrupted" {
		t.Fatalf("interrupted cell: %v", rep)
	}
	c.drainUntilIdle(2 * time.Second)
	// a cell blocked in the SDK (waiting for a dispatcher that never answers) is interrupted too
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer silent.Close()
	t.Setenv("GOVALENT_DISPATCHER", "") // restored after the test: %env sets it in the kernel's process too
	c.request(c.shell, "execute_request", map[string]any{"code": "%env GOVALENT_DISPATCHER=" + silent.URL + "\nres, err := ct.GetResult(\"x\", true)\nif err != nil { panic(err) }"})
	time.Sleep(500 * time.Millisecond)
	c.request(c.control, "interrupt_request", map[string]any{})
	c.reply(c.control, 5*time.Second)
	if rep := c.reply(c.shell, 10*time.Second); rep == nil || content(rep)["ename"] != "Interrupted" {
		t.Fatalf("blocked GetResult: %v", rep)
	}
	c.drainUntilIdle(2 * time.Second)
	// interrupt_mode "signal": SIGINT to the kernel process
	c.request(c.shell, "execute_request", map[string]any{"code": "time.Sleep(time.Hour)"})
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	if rep := c.reply(c.shell, 10*time.Second); rep == nil || content(rep)["ename"] != "Interrupted" {
		t.Fatalf("SIGINT: %v", rep)
	}
	c.drainUntilIdle(2 * time.Second)
	if rep, _ := c.execute("1 + 1", false); content(rep)["status"] != "ok" {
		t.Fatalf("after interrupts: %s", rep.Content)
	}
}
