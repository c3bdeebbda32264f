package plugin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/executors/plugin"
)

// The plugin programs the tests start, built by TestMain.
var bins = map[string]string{
	"example":       "github.com/govalent/govalent/examples/plugin",
	"fake":          "github.com/govalent/govalent/executors/plugin/testdata/fakeplugin",
	"otherprotocol": "github.com/govalent/govalent/executors/plugin/testdata/otherprotocol",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "govalent-plugins-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, pkg := range bins {
		bins[name] = filepath.Join(dir, name)
		build := exec.Command("go", "build", "-o", bins[name], pkg)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func start(t *testing.T, name string, settings map[string]any) executors.Executor {
	t.Helper()
	ex, err := plugin.New(name, bins[name], settings, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })
	return ex
}

// The example plugin is an executor like any other.
func TestExampleConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executors.Executor {
		ex, err := plugin.New("envpool", bins["example"], map[string]any{"workers": 2}, quiet())
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}, executortest.Options{Capacity: 2})
}

// outcomes collects a test's outcomes and counts how often each task's done was called.
type outcomes struct {
	mu    sync.Mutex
	calls map[string]int
	got   map[string]chan executors.Outcome
}

func newOutcomes() *outcomes {
	return &outcomes{calls: map[string]int{}, got: map[string]chan executors.Outcome{}}
}

var seq int

func (o *outcomes) submit(ex executors.Executor, entry string, arg any) *executors.Task {
	seq++
	raw, _ := json.Marshal(arg)
	t := &executors.Task{ID: fmt.Sprintf("t%d", seq), DispatchID: "d", NodeID: seq, Kind: executors.KindElectron, Entry: entry,
		ProgramHash: "p", Program: "package main", Args: [][]byte{raw}}
	ch := make(chan executors.Outcome, 1)
	o.mu.Lock()
	o.got[t.ID] = ch
	o.mu.Unlock()
	ex.Submit(t, o.done(t.ID, ch))
	return t
}

func (o *outcomes) done(id string, ch chan executors.Outcome) func(executors.Outcome) {
	return func(oc executors.Outcome) {
		o.mu.Lock()
		o.calls[id]++
		o.mu.Unlock()
		ch <- oc
	}
}

func (o *outcomes) wait(t *testing.T, task *executors.Task) executors.Outcome {
	t.Helper()
	o.mu.Lock()
	ch := o.got[task.ID]
	o.mu.Unlock()
	select {
	case oc := <-ch:
		return oc
	case <-time.After(30 * time.Second):
		t.Fatalf("no outcome of %s (%s)", task.ID, task.Entry)
		return executors.Outcome{}
	}
}

// onceEach checks that no done was called twice.
func (o *outcomes) onceEach(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, n := range o.calls {
		if n != 1 {
			t.Errorf("task %s: done called %d times", id, n)
		}
	}
}

func wantOutput(t *testing.T, oc executors.Outcome, want string) {
	t.Helper()
	if oc.Error != "" || oc.Cancelled || string(oc.Output) != want {
		t.Fatalf("outcome %+v, want output %s", oc, want)
	}
}

// A plugin that crashes fails the tasks it held (a cancelled one is reported cancelled) with an error naming
// the plugin and its panic; the next tasks run on a new plugin process.
func TestCrashFailsHeldTasksAndRestarts(t *testing.T) {
	ex := start(t, "fake", nil)
	o := newOutcomes()
	wantOutput(t, o.wait(t, o.submit(ex, "Echo", "before")), `"before"`)
	held := o.submit(ex, "Hold", "x")
	cancelled := o.submit(ex, "Hold", "y")
	ex.Cancel(cancelled.ID)
	if oc := o.wait(t, cancelled); !oc.Cancelled {
		t.Fatalf("cancelled before the crash: %+v", oc)
	}
	crash := o.submit(ex, "Crash", "z")
	for _, task := range []*executors.Task{held, crash} {
		oc := o.wait(t, task)
		for _, want := range []string{"executor fake", "plugin process", bins["fake"], "stopped while it held the task", "exit status 2",
			"panic: the fake plugin crashes on purpose"} {
			if !strings.Contains(oc.Error, want) {
				t.Fatalf("%s: error %q should say %q", task.Entry, oc.Error, want)
			}
		}
		if oc.ErrorKind != executors.ErrorCrash || !oc.Retryable || oc.Cancelled {
			t.Fatalf("%s: %+v", task.Entry, oc)
		}
	}
	for i := range 3 {
		wantOutput(t, o.wait(t, o.submit(ex, "Echo", i)), fmt.Sprint(i))
	}
	// A second crash, and the plugin comes back again.
	o.wait(t, o.submit(ex, "Crash", "again"))
	wantOutput(t, o.wait(t, o.submit(ex, "Echo", "after")), `"after"`)
	if st := ex.Stats(); st.Name != "fake" || st.Done != 9 || st.Workers != 1 {
		t.Fatalf("stats %+v, want 9 reported", st)
	}
	ex.Close()
	o.onceEach(t)
}

// A plugin that cannot be restarted fails the tasks waiting for it with the reason, and is started again for
// the next task once it can be.
func TestRestartFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fake")
	copyFile(t, bins["fake"], path)
	ex, err := plugin.New("fake", path, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	o := newOutcomes()
	os.Remove(path) // the running process goes on
	if oc := o.wait(t, o.submit(ex, "Crash", 1)); !strings.Contains(oc.Error, "stopped while it held the task") {
		t.Fatalf("the crash: %+v", oc)
	}
	oc := o.wait(t, o.submit(ex, "Echo", 2))
	if want := "executor fake: starting plugin " + path + ": fork/exec " + path + ": no such file or directory"; !strings.Contains(oc.Error, want) ||
		oc.ErrorKind != executors.ErrorCrash {
		t.Fatalf("with the plugin gone: %+v, want the error %q", oc, want)
	}
	copyFile(t, bins["fake"], path)
	wantOutput(t, o.wait(t, o.submit(ex, "Echo", 3)), "3")
	ex.Close()
	o.onceEach(t)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, data, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A task that cannot be sent (its settings are not JSON) fails alone; the tasks around it run.
func TestUnsendableTaskFailsAlone(t *testing.T) {
	ex := start(t, "fake", nil)
	o := newOutcomes()
	before := o.submit(ex, "Echo", 1)
	bad := &executors.Task{ID: "bad", Entry: "Echo", Settings: map[string]json.RawMessage{"x": json.RawMessage("{not json")}}
	ch := make(chan executors.Outcome, 1)
	ex.Submit(bad, o.done(bad.ID, ch))
	after := o.submit(ex, "Echo", 2)
	if oc := <-ch; !strings.Contains(oc.Error, "executor fake: encoding the task: json: error calling MarshalJSON for type json.RawMessage") {
		t.Fatalf("the task with bad settings: %+v", oc)
	}
	wantOutput(t, o.wait(t, before), "1")
	wantOutput(t, o.wait(t, after), "2")
	ex.Close()
	o.onceEach(t)
}

// A task cancelled while the plugin holds it is cancelled by the plugin's executor.
func TestCancelHeldTask(t *testing.T) {
	ex := start(t, "fake", nil)
	o := newOutcomes()
	held := o.submit(ex, "Hold", "x")
	wantOutput(t, o.wait(t, o.submit(ex, "Echo", 1)), "1") // the plugin has taken held by now: tasks go in order
	if st := ex.Stats(); st.Busy != 1 {
		t.Fatalf("stats %+v, want the held task busy", st)
	}
	ex.Cancel(held.ID)
	if oc := o.wait(t, held); !oc.Cancelled {
		t.Fatalf("cancelled: %+v", oc)
	}
	ex.Close()
	o.onceEach(t)
}

func TestNotAPlugin(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{"/bin/true", "executor x: /bin/true is not an executor plugin (a program whose main calls plugin.Serve): it exited without printing go-plugin's handshake"},
		{"/bin/pwd", "executor x: /bin/pwd is not an executor plugin (a program whose main calls plugin.Serve): it printed \"" + cwd + "\" instead of go-plugin's handshake"},
		{"/nonexistent/plugin", "executor x: plugin /nonexistent/plugin: exec: \"/nonexistent/plugin\": stat /nonexistent/plugin: no such file or directory"},
		{bins["otherprotocol"], fmt.Sprintf("executor x: plugin "+bins["otherprotocol"]+": incompatible API version with plugin. Plugin version: %d, Client versions: [%d]; this dispatcher speaks executor plugin protocol %d: rebuild the plugin against this version of govalent",
			plugin.ProtocolVersion+1, plugin.ProtocolVersion, plugin.ProtocolVersion)},
	} {
		ex, err := plugin.New("x", c.path, nil, quiet())
		if err == nil {
			ex.Close()
			t.Fatalf("%s started as a plugin", c.path)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v\nwant it to contain: %s", c.path, err, c.want)
		}
	}
}

// The plugin's executor refuses settings it does not know, at start; one that panics there is a clear error too.
func TestSettingsRefused(t *testing.T) {
	_, err := plugin.New("gpu0", bins["example"], map[string]any{"workers": 2, "evn": map[string]any{"A": "b"}}, quiet())
	if err == nil || !strings.Contains(err.Error(), `executor gpu0: plugin `+bins["example"]+`: executor gpu0 settings: json: unknown field "evn"`) {
		t.Fatalf("a misspelt setting: %v", err)
	}
	_, err = plugin.New("x", bins["fake"], map[string]any{"panic_at_start": true}, quiet())
	if want := "executor x: plugin " + bins["fake"] + " failed while starting its executor: exit status 2; its stderr ends: panic: the fake plugin cannot start"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a plugin that panics at start: %v\nwant: %s", err, want)
	}
	_, err = plugin.New("gpu0", bins["example"], map[string]any{"dir": "/nonexistent"}, quiet())
	if err == nil || !strings.Contains(err.Error(), "executor gpu0: dir: chdir /nonexistent: no such file or directory") {
		t.Fatalf("a missing directory: %v", err)
	}
}

// NativeRunner and Adopter are the plugin executor's when, and only when, the plugin's executor has them.
func TestOptionalInterfaces(t *testing.T) {
	plain := start(t, "fake", nil)
	if _, ok := plain.(executors.NativeRunner); ok {
		t.Fatal("a NativeRunner, though its plugin is not")
	}
	if _, ok := plain.(executors.Adopter); ok {
		t.Fatal("an Adopter, though its plugin is not")
	}
	ex := start(t, "fake", map[string]any{"native_platforms": []string{"linux/arm64", "darwin/arm64"}})
	if n, ok := ex.(executors.NativeRunner); !ok || !slices.Equal(n.NativePlatforms(), []string{"linux/arm64", "darwin/arm64"}) {
		t.Fatalf("NativeRunner %v", ok)
	}
	a, ok := ex.(executors.Adopter)
	if !ok {
		t.Fatal("not an Adopter")
	}
	o := newOutcomes()
	adopted := &executors.Task{ID: "a1", DispatchID: "d", NodeID: 1, Kind: executors.KindElectron, Entry: "Echo"}
	ch := make(chan executors.Outcome, 1)
	a.Adopt(adopted, o.done(adopted.ID, ch))
	wantOutput(t, <-ch, `"adopted"`)
	wantOutput(t, o.wait(t, o.submit(ex, "Echo", "submitted")), `"submitted"`)
}

// syncBuffer is a log destination the plugin's goroutines write to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// What the plugin logs and writes to stdout and stderr is in the dispatcher's log.
func TestPluginOutputIsLogged(t *testing.T) {
	var logs syncBuffer
	ex, err := plugin.New("talker", bins["fake"], nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	o := newOutcomes()
	wantOutput(t, o.wait(t, o.submit(ex, "Talk", 1)), "1")
	ex.Close() // the output streams are copied by then
	for _, want := range []string{
		`level=WARN msg="the fake warns" executor=talker task=`,
		`level=INFO msg="plugin output" executor=talker stream=stdout line="the fake says on stdout"`,
		`level=INFO msg="plugin output" executor=talker stream=stderr line="the fake says on stderr"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("the log lacks %s:\n%s", want, logs.String())
		}
	}
}

func TestFromSettings(t *testing.T) {
	if ex, ok, err := plugin.FromSettings("pool", map[string]any{"max_reply": "1GiB"}, quiet()); ex != nil || ok || err != nil {
		t.Fatalf("a table without plugin: %v %v %v", ex, ok, err)
	}
	if _, ok, err := plugin.FromSettings("mine", map[string]any{"plugin": 3}, quiet()); !ok || err == nil ||
		err.Error() != "executor mine: plugin must be the path of the plugin program, not 3" {
		t.Fatalf("plugin = 3: %v %v", ok, err)
	}
	ex, ok, err := plugin.FromSettings("mine", map[string]any{"plugin": bins["fake"], "native_platforms": []any{"linux/riscv64"}}, quiet())
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	defer ex.Close()
	if n, isNative := ex.(executors.NativeRunner); !isNative || !slices.Equal(n.NativePlatforms(), []string{"linux/riscv64"}) {
		t.Fatalf("the table's other keys are the plugin's settings: NativeRunner %v", isNative)
	}
}

// The cost of the hop to a plugin and back, per task, for a burst of tasks its executor answers at once.
func BenchmarkRoundTrip(b *testing.B) {
	ex, err := plugin.New("fake", bins["fake"], nil, quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close()
	var wg sync.WaitGroup
	arg := []byte(`"x"`)
	b.ResetTimer()
	for i := range b.N {
		wg.Add(1)
		ex.Submit(&executors.Task{ID: fmt.Sprint("b", i), Entry: "Echo", Args: [][]byte{arg}}, func(executors.Outcome) { wg.Done() })
	}
	wg.Wait()
}
