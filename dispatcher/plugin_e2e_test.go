package dispatcher_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors/plugin"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// pluginEnv is a dispatcher whose "envpool" executor is the example plugin (examples/plugin), built by the test,
// beside the built-in executors.
func pluginEnv(t *testing.T) (e *env, pluginPath string) {
	t.Helper()
	pluginPath = filepath.Join(t.TempDir(), "envpool")
	if out, err := exec.Command("go", "build", "-o", pluginPath, "github.com/govalent/govalent/examples/plugin").CombinedOutput(); err != nil {
		t.Fatalf("building the example plugin: %v\n%s", err, out)
	}
	execs := testExecutors(t, nil)
	ex, ok, err := plugin.FromSettings("envpool", map[string]any{"plugin": pluginPath, "workers": int64(2),
		"env": map[string]any{"GOVALENT_GREETING": "hello from the plugin"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	execs["envpool"] = ex
	e, _ = startEnv(t, dispatcher.Config{Executors: execs})
	return e, pluginPath
}

// A workflow runs some electrons on the plugin executor and others on the pool; the plugin's settings reach
// its electrons, and an electron's failure there is its node's.
func TestPluginExecutorWorkflow(t *testing.T) {
	e, _ := pluginEnv(t)
	e.cell(`
import (
	"errors"
	"os"
	"strings"
)

func Greet(name string) string { return os.Getenv("GOVALENT_GREETING") + ", " + name }
func Shout(s string) string { return strings.ToUpper(s) + "!" }
func Join(xs []string) string { return strings.Join(xs, " / ") }
func Fail(s string) (string, error) { return "", errors.New("no good: " + s) }

var greet = ct.Electron(Greet, ct.Executor("envpool"))
var shout = ct.Electron(Shout)
var join = ct.Electron(Join, ct.Executor("envpool"))
var fail = ct.Electron(Fail, ct.Executor("envpool"))

var flow = ct.Lattice(func(names []string) ct.Future {
	var shouts []ct.Future
	for _, n := range names {
		shouts = append(shouts, shout(greet(n)))
	}
	return join(shouts)
})
res, err := ct.DispatchSync(flow, []string{"ada", "grace", "edsger"})
bad, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return fail("input") }))
`)
	res := e.result("res")
	want := "HELLO FROM THE PLUGIN, ADA! / HELLO FROM THE PLUGIN, GRACE! / HELLO FROM THE PLUGIN, EDSGER!"
	if res.Status != ct.StatusCompleted || res.Result != want {
		t.Fatalf("%s %v: %s", res.Status, res.Result, res.Error)
	}
	executorsUsed := map[string]int{}
	for _, n := range res.Nodes {
		executorsUsed[n.Executor]++
	}
	if executorsUsed["envpool"] != 4 || executorsUsed["pool"] != 3 {
		t.Fatalf("nodes by executor: %v", executorsUsed)
	}
	bad := e.result("bad")
	if bad.Status != ct.StatusFailed || !strings.Contains(bad.Nodes[0].Error, "no good: input") {
		t.Fatalf("a failing electron: %s %q", bad.Status, bad.Nodes[0].Error)
	}
}

// When the plugin process dies mid-task, the node it held fails with an error that says so, and the next
// dispatch runs on a new plugin process.
func TestPluginExecutorCrash(t *testing.T) {
	e, pluginPath := pluginEnv(t)
	started := filepath.Join(t.TempDir(), "started")
	e.cell(`
import (
	"os"
	"time"
)

func Hold(path string) int { os.WriteFile(path, nil, 0o600); time.Sleep(time.Minute); return 1 }
func Twice(n int) int { return 2 * n }

var hold = ct.Electron(Hold, ct.Executor("envpool"))
var twice = ct.Electron(Twice, ct.Executor("envpool"))
id, err := ct.Dispatch(ct.Lattice(func(path string) ct.Future { return hold(path) }), ` + strconv.Quote(started) + `)
`)
	id := e.value("id").(string)
	wait.For(t, "the electron to start on the plugin", 30*time.Second, func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	pid := pluginPID(t, pluginPath)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r, err := e.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusFailed ||
		!strings.Contains(r.Nodes[0].Error, "executor envpool: its plugin process ("+pluginPath+") stopped while it held the task: signal: killed") {
		t.Fatalf("%v: %s %q", err, r.Status, r.Nodes[0].Error)
	}
	e.cell(`after, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return twice(21) }))`)
	if after := e.result("after"); after.Status != ct.StatusCompleted || fmt.Sprint(after.Result) != "42" {
		t.Fatalf("after the crash: %s %v %s", after.Status, after.Result, after.Error)
	}
	if newPID := pluginPID(t, pluginPath); newPID == pid {
		t.Fatalf("the plugin process %d was not replaced", pid)
	}
}

// pluginPID finds the process running the plugin at path (not one of its workers, which run it with an
// argument).
func pluginPID(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && string(bytes.TrimSuffix(cmdline, []byte{0})) == path {
			return pid
		}
	}
	t.Fatalf("no process runs %s", path)
	return 0
}
