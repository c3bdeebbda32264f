package dispatcher_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	sshexec "github.com/govalent/govalent/executors/ssh"
	"github.com/govalent/govalent/internal/testkit/sshtest"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// sshEnv is a dispatcher whose "ssh" executor runs electrons on a real sshd on loopback, with the built-in
// executors beside it.
type sshEnv struct {
	*env
	stop     func()
	srv      *sshtest.Server
	cfg      dispatcher.Config
	settings map[string]any
}

func newSSHEnv(t *testing.T, tier string) *sshEnv {
	t.Helper()
	srv := sshtest.Start(t)
	e := &sshEnv{srv: srv, cfg: dispatcher.Config{DataDir: t.TempDir(), Native: tier}, settings: map[string]any{
		"host": srv.Host, "port": srv.Port, "user": srv.User, "key_file": srv.KeyFile, "known_hosts": srv.KnownHosts,
		"remote_dir": t.TempDir(), "govalent_binary": workerBinary, "concurrency": 2,
	}}
	e.env, e.stop = e.start(t)
	return e
}

// start runs a dispatcher on e.cfg (the same data directory each time) with fresh executors.
func (e *sshEnv) start(t *testing.T) (*env, func()) {
	cfg := e.cfg
	cfg.Executors = testExecutors(t, nil)
	ex, err := sshexec.New("ssh", e.settings, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Executors["ssh"] = ex
	return startEnv(t, cfg)
}

// Workflows complete, fail, time out and are cancelled on the ssh executor, with electrons compiled (the
// program's native worker, uploaded to the host) and interpreted (the govalent binary there).
func TestSSHWorkflows(t *testing.T) {
	for _, tier := range []string{dispatcher.NativeAlways, dispatcher.NativeNever} {
		t.Run(map[string]string{dispatcher.NativeAlways: "native", dispatcher.NativeNever: "interpreted"}[tier], func(t *testing.T) {
			e := newSSHEnv(t, tier)
			pidFile := filepath.Join(t.TempDir(), "nap.pid")
			e.cell(fmt.Sprintf(`
import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

func Shout(s string) string { fmt.Println("shouting", s); return strings.ToUpper(s) + "!" }
func Exe() string { p, _ := os.Executable(); return p }
func Fail(s string) (string, error) { return "", errors.New("no good: " + s) }
func Nap() int {
	os.WriteFile(%q, []byte(fmt.Sprint(os.Getpid())), 0o600)
	time.Sleep(time.Minute)
	return 1
}

var shout = ct.Electron(Shout, ct.Executor("ssh"))
var exe = ct.Electron(Exe, ct.Executor("ssh"))
var fail = ct.Electron(Fail, ct.Executor("ssh"))
var slow = ct.Electron(Nap, ct.Executor("ssh"), ct.TimeLimit(time.Second))
var nap = ct.Electron(Nap, ct.Executor("ssh"))
var join = ct.Electron(func(a, b string) string { return a + " " + b })
var boom = ct.Electron(func() int { panic("boom") })
var quit = ct.Electron(func() int { os.Exit(3); return 0 })

res, err := ct.DispatchSync(ct.Lattice(func(s string) ct.Future { return join(shout(s), exe()) }), "hello")
bad, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return fail("input") }))
overtime, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return slow() }))
panicked, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return boom() }))
exited, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return quit() }))
`, pidFile))
			res := e.result("res")
			if s, _ := res.Result.(string); res.Status != ct.StatusCompleted || !strings.HasPrefix(s, "HELLO! ") {
				t.Fatalf("%s %v: %s %+v", res.Status, res.Result, res.Error, res.Nodes)
			}
			if n := res.Nodes[0]; n.Executor != "ssh" || !strings.Contains(n.Stdout, "shouting hello") {
				t.Fatalf("the ssh node: executor %q, stdout %q", n.Executor, n.Stdout)
			}
			// The electron ran in a binary the executor uploaded by its hash: the govalent binary when interpreted,
			// the program's native worker when compiled.
			exePath := strings.TrimPrefix(res.Result.(string), "HELLO! ")
			govalent := fileSHA256(t, workerBinary)
			if filepath.Base(filepath.Dir(exePath)) != "bin" || (filepath.Base(exePath) == govalent) != (tier == dispatcher.NativeNever) {
				t.Fatalf("the electron ran in %s (the govalent binary is %s)", exePath, govalent)
			}
			// Compiled electrons need no govalent on the host: their native worker runs them alone.
			_, err := os.Stat(filepath.Join(e.settings["remote_dir"].(string), "bin", govalent))
			if uploaded := err == nil; uploaded != (tier == dispatcher.NativeNever) {
				t.Fatalf("the govalent binary uploaded: %v", uploaded)
			}
			bad := e.result("bad")
			if bad.Status != ct.StatusFailed || !strings.Contains(bad.Nodes[0].Error, "no good: input") {
				t.Fatalf("failing electron: %s %q", bad.Status, bad.Nodes[0].Error)
			}
			if r := e.result("panicked"); r.Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, "boom") || r.Nodes[0].Stack == "" {
				t.Fatalf("a panicking electron: %s %q %q", r.Status, r.Nodes[0].Error, r.Nodes[0].Stack)
			}
			if r := e.result("exited"); r.Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, "os.Exit(3)") {
				t.Fatalf("an exiting electron: %s %q", r.Status, r.Nodes[0].Error)
			}
			overtime := e.result("overtime")
			if overtime.Status != ct.StatusFailed || !strings.Contains(overtime.Nodes[0].Error, "time limit of 1s exceeded") {
				t.Fatalf("over its time limit: %s %q", overtime.Status, overtime.Nodes[0].Error)
			}
			gone(t, pidFile)

			os.Remove(pidFile)
			e.cell(`napping, err := ct.Dispatch(ct.Lattice(func() ct.Future { return nap() }))`)
			id := e.value("napping").(string)
			wait.For(t, "the electron to start on the host", time.Minute, func() bool { _, err := os.Stat(pidFile); return err == nil })
			if err := e.client().Cancel(id); err != nil {
				t.Fatal(err)
			}
			r, err := e.client().GetResult(id, true)
			if err != nil || r.Status != ct.StatusCancelled {
				t.Fatalf("cancelled: %v %v", r, err)
			}
			gone(t, pidFile)
		})
	}
}

// gone waits until the process whose pid the electron wrote is killed.
func gone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the electron's process on the host to be killed", 30*time.Second, func() bool {
		return syscall.Kill(pid, 0) != nil
	})
}

// A dispatcher that stops while an electron runs on the host adopts it after the restart: the electron does not
// run twice (it counts its runs in a file on the host), and the node that completed before does not run again.
func TestSSHRestartAdoptsTheRunningElectron(t *testing.T) {
	e := newSSHEnv(t, map[bool]string{true: dispatcher.NativeAlways, false: dispatcher.NativeNever}[native()])
	dir := t.TempDir()
	first, second, gate := filepath.Join(dir, "first"), filepath.Join(dir, "second"), filepath.Join(dir, "gate")
	e.cell(`
import (
	"os"
	"strings"
	"time"
)

// Count records a run in path, waits for gate (if any), and returns how often it ran; after orders it.
func Count(after int, path, gate string) int {
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	f.WriteString("ran\n")
	f.Close()
	for gate != "" {
		if _, err := os.Stat(gate); err == nil { break }
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

var count = ct.Electron(Count, ct.Executor("ssh"))
`)
	e.cell(fmt.Sprintf(`id, err := ct.Dispatch(ct.Lattice(func() ct.Future { return count(count(0, %q, ""), %q, %q) }))`, first, second, gate))
	id := e.value("id").(string)
	runs := func(path string) int {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n")
	}
	// The first node is stored COMPLETED (its dependent may start before that: a restart then runs both again).
	wait.For(t, "the first electron stored and the second started on the host", 2*time.Minute, func() bool {
		r, err := e.client().GetResult(id, false)
		return err == nil && r.Node(0).Status == ct.StatusCompleted && runs(second) == 1
	})
	e.stop()

	restarted, _ := e.start(t)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := restarted.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusCompleted || fmt.Sprint(r.Result) != "1" {
		t.Fatalf("after the restart: %+v %v", r, err)
	}
	if runs(first) != 1 || runs(second) != 1 {
		t.Fatalf("the electrons ran %d and %d times, want once each", runs(first), runs(second))
	}
}

// A host the executor cannot use fails the electrons sent there with a clear error, and the dispatcher goes on
// running other work.
func TestSSHBadHostFailsTheNodeOnly(t *testing.T) {
	e := newSSHEnv(t, dispatcher.NativeNever)
	e.stop()
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	e.settings["known_hosts"] = empty
	e.env, e.stop = e.start(t)
	e.cell(`
func One() int { return 1 }
var remote = ct.Electron(One, ct.Executor("ssh"))
var local = ct.Electron(One)
bad, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return remote() }))
good, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return local() }))
`)
	if bad := e.result("bad"); bad.Status != ct.StatusFailed || !strings.Contains(bad.Nodes[0].Error, "is unknown: it is not in known_hosts "+empty) {
		t.Fatalf("unknown host key: %s %q", bad.Status, bad.Nodes[0].Error)
	}
	if good := e.result("good"); good.Status != ct.StatusCompleted || fmt.Sprint(good.Result) != "1" {
		t.Fatalf("after the failure: %s %v", good.Status, good.Result)
	}
}
