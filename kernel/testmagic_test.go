package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPercentTest runs a session's tests and benchmark with %test: passing, failing, selected by -run, a
// compile error at the cell's line, and a session without tests.
func TestPercentTest(t *testing.T) {
	t.Setenv("GOVALENT_EVALUATOR_CACHE", t.TempDir())
	_, c := startTestKernel(t)
	run := func(code string) (map[string]any, map[string]string) {
		t.Helper()
		start := time.Now()
		rep, s := c.run(code)
		t.Logf("%q took %s", code, time.Since(start).Round(time.Millisecond))
		return rep, s
	}

	rep, s := run("%test")
	if rep["status"] != "ok" || !strings.Contains(s["stdout"], "declares no test") {
		t.Fatalf("%%test without tests: %v %q", rep, s)
	}
	// %test runs after the cell's Go: a cell declares tests and runs them
	rep, s = run("%test\nimport (\n\t\"fmt\"\n\t\"testing\"\n)\nfunc Add(a, b int) int { return a + b }\nfunc TestAdd(t *testing.T) { if Add(2, 3) != 5 { t.Fatal(\"wrong\") } }\nfunc BenchmarkAdd(b *testing.B) { for b.Loop() { Add(2, 3) } }\nfunc ExampleAdd() {\n\tfmt.Println(Add(1, 1))\n\t// Output: 2\n}\nfunc Testing(t *testing.T) { t.Fatal(\"not a test: go test's names\") }")
	if rep["status"] != "ok" || !strings.Contains(s["stdout"], "--- PASS: TestAdd") || !strings.Contains(s["stdout"], "--- PASS: ExampleAdd") || !regexp.MustCompile(`(?m)^BenchmarkAdd\S*\s+\d+\s+[\d.]+ ns/op`).MatchString(s["stdout"]) {
		t.Fatalf("%%test: %v %q", rep, s)
	}
	if strings.Contains(s["stdout"], "Testing") {
		t.Errorf("%%test ran Testing, which go test does not take for a test: %q", s["stdout"])
	}

	if rep, _ := run("func TestSub(t *testing.T) { if Add(2, 3) != 6 { t.Errorf(\"Add(2, 3) = %d\", Add(2, 3)) } }"); rep["status"] != "ok" {
		t.Fatalf("TestSub: %v", rep)
	}
	rep, s = run("%test")
	if rep["status"] != "error" || rep["ename"] != "TestFailed" || !strings.Contains(rep["evalue"].(string), "TestSub") || strings.Contains(rep["evalue"].(string), "TestAdd") {
		t.Fatalf("a failing test: %v", rep)
	}
	if !strings.Contains(s["stdout"], "Add(2, 3) = 5") {
		t.Errorf("the failure's message is not shown: %q", s["stdout"])
	}

	rep, s = run("%test -run 'TestAdd$'")
	if rep["status"] != "ok" || !strings.Contains(s["stdout"], "--- PASS: TestAdd") || strings.Contains(s["stdout"], "TestSub") || strings.Contains(s["stdout"], "BenchmarkAdd") {
		t.Fatalf("%%test -run TestAdd: %v %q", rep, s)
	}

	// a test that the interpreter takes and the Go compiler does not: the message is at the cell's line
	if rep, _ := run("func TestBig(t *testing.T) {\n\tvar a [1 << 50]byte\n\t_ = a\n}"); rep["status"] != "ok" {
		t.Fatalf("TestBig: %v", rep)
	}
	rep, _ = run("%test -run TestBig")
	if rep["status"] != "error" || rep["ename"] != "CompileError" || !regexp.MustCompile(`cell\d+:2:6: type \[1125899906842624\]byte larger than address space`).MatchString(rep["evalue"].(string)) {
		t.Fatalf("a compile error: %v", rep)
	}
}

// TestPercentTestInterrupted: an interrupt ends a test that hangs, and go test with it.
func TestPercentTestInterrupted(t *testing.T) {
	t.Setenv("GOVALENT_EVALUATOR_CACHE", t.TempDir())
	_, c := startTestKernel(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	if rep, _ := c.run("import (\n\t\"os\"\n\t\"strconv\"\n\t\"testing\"\n\t\"time\"\n)\nfunc TestHang(t *testing.T) {\n\tos.WriteFile(" + strconv.Quote(pidFile) + ", []byte(strconv.Itoa(os.Getpid())), 0o600)\n\ttime.Sleep(time.Hour)\n}"); rep["status"] != "ok" {
		t.Fatalf("declaration: %v", rep)
	}
	c.request(c.shell, "execute_request", map[string]any{"code": "%test", "silent": false})
	deadline := time.Now().Add(2 * time.Minute)
	for seen := ""; !strings.Contains(seen, "=== RUN   TestHang"); {
		if time.Now().After(deadline) {
			t.Fatalf("the test did not start: %q", seen)
		}
		select {
		case m := <-c.iopubMsgs:
			if m.Header.MsgType == "stream" {
				seen += content(m)["text"].(string)
			}
		case <-time.After(time.Second):
		}
	}
	start := time.Now()
	c.request(c.control, "interrupt_request", map[string]any{})
	c.reply(c.control, 5*time.Second)
	rep := c.reply(c.shell, 20*time.Second)
	if rep == nil || content(rep)["ename"] != "Interrupted" {
		t.Fatalf("interrupted %%test: %v", rep)
	}
	t.Logf("interrupted in %s", time.Since(start).Round(time.Millisecond))
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the test binary's pid: %v", err)
	}
	pid, _ := strconv.Atoi(string(data))
	for gone := time.Now().Add(10 * time.Second); running(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(gone) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the test binary (pid %d) outlived the interrupt", pid)
		}
	}
	c.drainUntilIdle(2 * time.Second)
	if rep, _ := c.run("1 + 1"); rep["status"] != "ok" {
		t.Fatalf("after the interrupt: %v", rep)
	}
}

// running tells whether process pid is alive (a zombie is not).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z")
}

// Without a Go toolchain, %test says so.
func TestPercentTestWithoutAToolchain(t *testing.T) {
	t.Setenv("GOVALENT_EVALUATOR_CACHE", t.TempDir())
	t.Setenv("GOVALENT_GO", filepath.Join(t.TempDir(), "no-go"))
	_, c := startTestKernel(t)
	rep, _ := c.run("import \"testing\"\nfunc TestAdd(t *testing.T) {}\n%test")
	if rep["status"] != "error" || !strings.Contains(rep["evalue"].(string), "%test runs go test, which needs a Go toolchain, and there is none") {
		t.Fatalf("%%test without a toolchain: %v", rep)
	}
}
