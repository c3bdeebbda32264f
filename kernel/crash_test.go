//go:build !race

package kernel

// Left out of -race runs (make test runs it in its plain pass): under the race detector the evaluator has no
// hard memory limit (its shadow memory would not fit under one), so the memory blow-up would take the machine's.

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/internal/testkit/wait"
)

// testEvaluatorMemory bounds the memory of the tests' evaluators, so that a blow-up ends soon.
const testEvaluatorMemory = 1 << 30

// A cell that overflows its stack, calls os.Exit, trips a fatal runtime error or exhausts its memory ends the
// evaluator, not the kernel: the cell's error says what happened, and the session is restored in a new
// evaluator, its declarations and its variables' values, except those that cannot be carried (a channel).
func TestTheKernelSurvivesItsCells(t *testing.T) {
	_, c := startTestKernel(t)
	ok := func(code string) (map[string]any, []*Message) {
		t.Helper()
		rep, out := c.execute(code, false)
		if content(rep)["status"] != "ok" {
			t.Fatalf("%q: %s", code, rep.Content)
		}
		return content(rep), out
	}
	ok("import (\n\t\"fmt\"\n\t\"os\"\n\t\"time\"\n)\n\nfunc greet(name string) string { return \"hello \" + name }\n" +
		"type Point struct{ X, Y int }\nvar hits = 0\nx := 41\nx++\np := Point{1, 2}\nch := make(chan int)\nbig := make([]byte, 65<<20)\n" +
		"type acc struct {\n\tn    int\n\ttags []string\n}\nfunc (a *acc) add() { a.n++ }\na := &acc{n: 1, tags: []string{\"t\"}}\na.add()\nm := map[string]acc{\"x\": {n: 7}}\n" +
		"var e = fmt.Errorf(\"boom\")\nerr := fmt.Errorf(\"stmt\")\nheld := any(Point{3, 4})")
	// what merely looks like the runtime's last words is the cell's output all the same
	if _, out := ok("fmt.Fprintln(os.Stderr, \"runtime: a message of the cell\")"); streams(out)["stderr"] != "runtime: a message of the cell\n" {
		t.Errorf("stderr %q", streams(out))
	}
	// ...and so is what follows it, as it comes
	if _, out := ok("fmt.Fprintln(os.Stderr, \"panic: recovered earlier, carrying on\")\nfor i := 0; i < 200; i++ {\n\tfmt.Fprintln(os.Stderr, \"log line\", i)\n}\nfmt.Fprintln(os.Stderr, \"LAST LINE\")"); !strings.HasPrefix(streams(out)["stderr"], "panic: recovered") || !strings.HasSuffix(streams(out)["stderr"], "log line 199\nLAST LINE\n") {
		t.Errorf("stderr after a line like the runtime's: %q", streams(out)["stderr"])
	}
	// output that holds what the kernel once took for its stream marker (the govalent binary does) is output
	if _, out := ok("fmt.Print(\"one\\x00govalent-stream-sync\\x00two\\x00govalent-stream-sync\\x00\\n\")"); streams(out)["stdout"] != "one\x00govalent-stream-sync\x00two\x00govalent-stream-sync\x00\n" {
		t.Errorf("stdout with the old marker: %q", streams(out)["stdout"])
	}
	if _, out := ok("fmt.Println(\"next\")"); streams(out)["stdout"] != "next\n" {
		t.Errorf("the next cell's stdout: %q", streams(out)["stdout"])
	}
	// a cell's os.Chdir holds in the evaluators that take the crashed ones' places
	wd := t.TempDir()
	ok(fmt.Sprintf("os.Chdir(%q)", wd))
	want := 42
	saidLost := false
	for _, tt := range []struct{ what, code, ename, says, keeps string }{
		{"infinite recursion", "func f(n int) int { return f(n+1) + 1 }\nf(1)", "StackOverflow", "stack overflow", ""},
		{"infinite recursion after lines like the runtime's", "fmt.Fprintln(os.Stderr, \"runtime: starting the solver\")\nfor i := 0; i < 200; i++ {\n\tfmt.Fprintf(os.Stderr, \"%050d\\n\", i)\n}\nfunc g(n int) int { return g(n+1) + 1 }\ng(1)", "StackOverflow", "stack overflow", "runtime: starting the solver\n"},
		{"infinite recursion after a line like a panic's", "fmt.Fprintln(os.Stderr, \"panic: recovered earlier\")\nfmt.Fprintln(os.Stderr, \"log line\")\nfunc h(n int) int { return h(n+1) + 1 }\nh(1)", "StackOverflow", "stack overflow", "panic: recovered earlier\nlog line\n"},
		{"os.Exit", "os.Exit(3)", "Exit", "os.Exit(3)", ""},
		{"os.Exit in a goroutine", "fmt.Fprintln(os.Stderr, \"panic: not really\")\ngo os.Exit(4)\ntime.Sleep(time.Minute)", "Exit", "os.Exit(4)", "panic: not really\n"},
		{"fatal error", "m := map[int]int{}\nfor i := 0; i < 2; i++ {\n\tgo func() {\n\t\tfor j := 0; ; j++ {\n\t\t\tm[j%64] = j\n\t\t}\n\t}()\n}\ntime.Sleep(time.Minute)", "FatalError", "concurrent map writes", ""},
		{"memory blow-up", "var hoard [][]byte\nfor {\n\thoard = append(hoard, make([]byte, 1<<20))\n}", "OutOfMemory", "out of memory", ""},
	} {
		start := time.Now()
		rep, cout := c.execute(tt.code, false)
		if stderr := streams(cout)["stderr"]; strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "stack overflow") {
			t.Errorf("%s: the interpreter's Go stacks reached the cell: %q", tt.what, stderr)
		} else if !strings.Contains(stderr, tt.keeps) || tt.keeps != "" && strings.Contains(tt.keeps, "runtime:") && !strings.HasSuffix(stderr, "199\n") {
			t.Errorf("%s: the cell's own stderr is lost: %q", tt.what, stderr)
		}
		got := content(rep)
		evalue, _ := got["evalue"].(string)
		if got["status"] != "error" || got["ename"] != tt.ename || !strings.Contains(evalue, tt.says) {
			t.Errorf("%s: %s; want the error %s saying %q", tt.what, rep.Content, tt.ename, tt.says)
		}
		switch {
		case tt.ename == "Exit" && tt.what == "os.Exit": // os.Exit in the cell's own code ends the cell only
		case !saidLost:
			if !strings.Contains(evalue, "restored") || !strings.Contains(evalue, "ch (") || !strings.Contains(evalue, "big (its value is 65 MiB") ||
				!strings.Contains(evalue, "err (errors.errorString has unexported fields") || !strings.Contains(evalue, "held (its value, a ") {
				t.Errorf("%s: %q does not say the session was restored but for ch, big and err", tt.what, evalue)
			}
			// a declared variable whose value cannot be carried gets its declaration's value again: not lost
			if strings.Contains(evalue, " e (") {
				t.Errorf("%s: %q lists e", tt.what, evalue)
			}
			saidLost = true
		default: // said once: since then they hold their zero values, which are carried
			if !strings.Contains(evalue, "restored") || strings.Contains(evalue, "ch (") {
				t.Errorf("%s: %q says again what the first crash lost", tt.what, evalue)
			}
		}
		t.Logf("%s: %s in %s", tt.what, evalue, time.Since(start).Round(time.Millisecond))
		// the kernel answers, with the func, the type and the variables declared before
		want++
		_, out := ok("x++\nhits++\ngreet(fmt.Sprint(x, p.X+p.Y, hits))")
		if res := find(out, "execute_result"); res == nil || content(res)["data"].(map[string]any)["text/plain"] != fmt.Sprintf("hello %d 3 %d", want, want-42) {
			t.Fatalf("after %s: %v %s", tt.what, types(out), find(out, "execute_result").Content)
		}
	}
	// the fields a cell's type declares unexported are carried too
	if _, out := ok("fmt.Println(a.n, a.tags, m[\"x\"].n, e)"); streams(out)["stdout"] != "2 [t] 7 boom\n" {
		t.Errorf("unexported fields after the crashes: %q", streams(out)["stdout"])
	}
	if _, out := ok("dir, _ := os.Getwd()\nfmt.Println(dir)"); streams(out)["stdout"] != wd+"\n" {
		t.Errorf("the directory after the crashes: %q, want %s", streams(out)["stdout"], wd)
	}
	// an evaluator that dies between cells, a goroutine's doing, is replaced at the next cell, which says so
	ok("go func() {\n\ttime.Sleep(100 * time.Millisecond)\n\tos.Exit(5)\n}()")
	time.Sleep(time.Second)
	want++
	_, out := ok("x++\nhits++\ngreet(fmt.Sprint(x, p.X+p.Y, hits))")
	if res := find(out, "execute_result"); res == nil || content(res)["data"].(map[string]any)["text/plain"] != fmt.Sprintf("hello %d 3 %d", want, want-42) || !strings.Contains(streams(out)["stderr"], "os.Exit(5)") {
		t.Fatalf("after a death between cells: %v %q", types(out), streams(out))
	}
	// interrupts still reach the new evaluator's cells
	c.request(c.shell, "execute_request", map[string]any{"code": "time.Sleep(time.Hour)"})
	time.Sleep(500 * time.Millisecond)
	c.request(c.control, "interrupt_request", map[string]any{})
	c.reply(c.control, 5*time.Second)
	if rep := c.reply(c.shell, 10*time.Second); rep == nil || content(rep)["ename"] != "Interrupted" {
		t.Fatalf("interrupt after the crashes: %v", rep)
	}
	c.drainUntilIdle(2 * time.Second)
}

func TestEvaluatorMemoryLimitSetting(t *testing.T) {
	for v, want := range map[string]int64{"512MiB": 512 << 20, "2GiB": 2 << 30, "1.5G": 3 << 29, "1048576": 1 << 20, "off": -1} {
		t.Setenv("GOVALENT_KERNEL_MEMORY", v)
		if got, err := evaluatorMemory(); err != nil || got != want {
			t.Errorf("GOVALENT_KERNEL_MEMORY=%s: %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"", "50%"} {
		t.Setenv("GOVALENT_KERNEL_MEMORY", v)
		if got, err := evaluatorMemory(); err != nil || got <= 0 {
			t.Errorf("GOVALENT_KERNEL_MEMORY=%q: %d, %v; want half the RAM", v, got, err)
		}
	}
	for _, v := range []string{"lots", "-1GiB", "150%", "3 parsecs"} {
		t.Setenv("GOVALENT_KERNEL_MEMORY", v)
		if _, err := evaluatorMemory(); err == nil || !strings.Contains(err.Error(), "GOVALENT_KERNEL_MEMORY") {
			t.Errorf("GOVALENT_KERNEL_MEMORY=%q: %v, want an error that names the setting", v, err)
		}
	}
}

// An evaluator that does not answer an interrupt (here, stopped by SIGSTOP) is killed after interruptGrace, and
// the session restored into a new one.
func TestAnEvaluatorThatIgnoresAnInterruptIsReplaced(t *testing.T) {
	k, c := startTestKernel(t)
	if rep, _ := c.execute("import \"time\"\nx := 7", false); content(rep)["status"] != "ok" {
		t.Fatalf("%s", rep.Content)
	}
	c.request(c.shell, "execute_request", map[string]any{"code": "time.Sleep(time.Hour)"})
	time.Sleep(500 * time.Millisecond)
	k.evMu.Lock()
	stuck := k.ev.cmd.Process.Pid
	k.evMu.Unlock()
	if err := syscall.Kill(stuck, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	c.request(c.control, "interrupt_request", map[string]any{})
	c.reply(c.control, 5*time.Second)
	rep := c.reply(c.shell, interruptGrace+10*time.Second)
	if rep == nil || content(rep)["ename"] != "Interrupted" || !strings.Contains(content(rep)["evalue"].(string), "killed") {
		t.Fatalf("the stuck cell: %v", rep)
	}
	if find(c.drainUntilIdle(2*time.Second), "error") == nil {
		c.drainUntilIdle(2 * time.Second) // that was the interrupt_request's idle
	}
	_, out := c.execute("x * 6", false)
	if res := find(out, "execute_result"); res == nil || content(res)["data"].(map[string]any)["text/plain"] != "42" {
		t.Fatalf("after the new evaluator: %v %s", types(out), out[len(out)-2].Content)
	}
}

// A session whose restoring blocks (a declaration waits on a channel that was full before the crash and is
// empty after it) is ended by an interrupt: the cell gets its error, the session starts empty, and the kernel
// goes on. The processes the crashed evaluator's cells started go with it.
func TestARestoreThatBlocksIsInterrupted(t *testing.T) {
	_, c := startTestKernel(t)
	for _, code := range []string{"import (\n\t\"fmt\"\n\t\"os\"\n\t\"os/exec\"\n\t\"time\"\n)\nvar ch = make(chan int, 1)", "ch <- 5", "var v = <-ch",
		"sleeper := exec.Command(\"sleep\", \"4242\")\nsleeper.Start()\nfmt.Println(sleeper.Process.Pid)"} {
		if rep, _ := c.execute(code, false); content(rep)["status"] != "ok" {
			t.Fatalf("%q: %s", code, rep.Content)
		}
	}
	_, out := c.execute("fmt.Println(sleeper.Process.Pid)", false)
	pid := strings.TrimSpace(streams(out)["stdout"])
	c.request(c.shell, "execute_request", map[string]any{"code": "go os.Exit(3)\ntime.Sleep(time.Minute)"})
	time.Sleep(2 * time.Second) // the crash, and the restore that waits on ch
	c.request(c.control, "interrupt_request", map[string]any{})
	c.reply(c.control, 5*time.Second)
	rep := c.reply(c.shell, 20*time.Second)
	if rep == nil {
		t.Fatal("no reply to the crashed cell: the restore still blocks")
	}
	if evalue, _ := content(rep)["evalue"].(string); content(rep)["ename"] != "Exit" || !strings.Contains(evalue, "restoring the session was interrupted") || !strings.Contains(evalue, "the session is empty") {
		t.Errorf("the crashed cell: %s", rep.Content)
	}
	if find(c.drainUntilIdle(2*time.Second), "error") == nil {
		c.drainUntilIdle(2 * time.Second) // that was the interrupt_request's idle
	}
	if _, out := c.execute("1 + 1", false); find(out, "execute_result") == nil {
		t.Fatalf("after the interrupted restore: %v %s", types(out), find(out, "error").Content)
	}
	wait.For(t, "the sleep the crashed evaluator's cell started to be killed", 10*time.Second, func() bool {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
}
