package slurm_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/executors/slurm"
	"github.com/govalent/govalent/internal/testkit/slurmtest"
	"github.com/govalent/govalent/internal/testkit/wait"
)

var taskSeq int

// task is a task of executortest.Program on node NodeID of dispatch "d".
func task(t *testing.T, node int, entry string, args ...any) *executors.Task {
	t.Helper()
	taskSeq++
	tk := &executors.Task{ID: fmt.Sprintf("d/%d/%d", node, taskSeq), DispatchID: "d", NodeID: node, Kind: executors.KindElectron,
		Entry: entry, ProgramHash: executortest.ProgramHash, Program: executortest.Program}
	for _, a := range args {
		raw, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		tk.Args = append(tk.Args, raw)
	}
	return tk
}

// submit hands tk to submit (Submit or Adopt) and returns where its outcome comes.
func submit(submit func(*executors.Task, func(executors.Outcome)), tk *executors.Task) <-chan executors.Outcome {
	ch := make(chan executors.Outcome, 2)
	submit(tk, func(oc executors.Outcome) { ch <- oc })
	return ch
}

func outcome(t *testing.T, ch <-chan executors.Outcome) executors.Outcome {
	t.Helper()
	select {
	case oc := <-ch:
		return oc
	case <-time.After(time.Minute):
		t.Fatal("no outcome within a minute")
		return executors.Outcome{}
	}
}

// Tasks submitted together go to Slurm as one job array, whose array tasks run them.
func TestFanOutIsOneArray(t *testing.T) {
	sbatches := countSbatch(t)
	dir := t.TempDir()
	// A window long enough that a busy machine does not split the burst.
	e := newExecutor(t, map[string]any{"dir": dir, "array_window": "250ms"})
	fanOutOfTwelve(t, e, dir)
	if n := sbatches(); n != 1 {
		t.Fatalf("%d sbatch calls for 12 tasks submitted together, want 1", n)
	}
}

// fanOutOfTwelve submits 12 tasks at once to e, whose dir is dir, and checks that each completes with its
// output and that they went to Slurm as one array of 12 tasks.
func fanOutOfTwelve(t *testing.T, e *slurm.Executor, dir string) {
	t.Helper()
	var chans []<-chan executors.Outcome
	for i := range 12 {
		chans = append(chans, submit(e.Submit, task(t, i, "Echo", fmt.Sprint("x", i))))
	}
	for i, ch := range chans {
		oc := outcome(t, ch)
		if oc.Error != "" || executortest.Text(oc.Output) != fmt.Sprintf(`"x%d"`, i) {
			t.Fatalf("task %d: %+v", i, oc)
		}
	}
	ids, _ := filepath.Glob(filepath.Join(dir, "batches", "*", "job"))
	if len(ids) != 1 {
		t.Fatalf("job id files %v, want one", ids)
	}
	id, _ := os.ReadFile(ids[0])
	jobs, err := cluster.Run("squeue", "-h", "-t", "all", "-r", "-o", "%i %T", "-j", strings.TrimSpace(string(id)))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(jobs), "\n")
	for i := range 12 {
		if want := fmt.Sprintf("%s_%d COMPLETED", strings.TrimSpace(string(id)), i); !slices.Contains(lines, want) {
			t.Fatalf("want array task %d (%q) in squeue's answer:\n%s", i, want, jobs)
		}
	}
	if len(lines) != 12 {
		t.Fatalf("want one array of 12 tasks, squeue shows:\n%s", jobs)
	}
}

// With array_window 0 each task is a job of its own (the benchmark's comparison); one squeue call follows them
// all.
func TestArraysOff(t *testing.T) {
	sbatches := countSbatch(t)
	squeues := slurmtest.Calls(t, "squeue")
	e := newExecutor(t, map[string]any{"array_window": "0"})
	var chans []<-chan executors.Outcome
	for i := range 3 {
		chans = append(chans, submit(e.Submit, task(t, i, "Hold", filepath.Join(t.TempDir(), "started"), 1000)))
	}
	for _, ch := range chans {
		if oc := outcome(t, ch); executortest.Text(oc.Output) != "1000" {
			t.Fatalf("%+v", oc)
		}
	}
	if n := sbatches(); n != 3 {
		t.Fatalf("%d sbatch calls, want 3", n)
	}
	all := 0
	for _, call := range squeues() {
		_, jobs, _ := strings.Cut(call, "--jobs=")
		if n := len(strings.Split(jobs, ",")); n == 3 {
			all++
		} else if n > 3 {
			t.Fatalf("squeue asked about %d jobs: %s", n, call)
		}
	}
	if all == 0 {
		t.Fatalf("no squeue call asked about the three jobs at once: %q", squeues())
	}
}

// A time limit becomes --time in whole minutes, rounded up; the runner holds the task to the limit itself.
func TestTimeLimitIsTime(t *testing.T) {
	e := newExecutor(t, nil)
	started := filepath.Join(t.TempDir(), "started")
	tk := task(t, 1, "Hold", started, 10*60*1000)
	tk.TimeLimit = 61 * time.Second
	ch := submit(e.Submit, tk)
	wait.For(t, "the job to start", time.Minute, func() bool { _, err := os.Stat(started); return err == nil })
	q, err := cluster.Queue()
	if err != nil || len(q) != 1 {
		t.Fatalf("queue %v %v", q, err)
	}
	job, err := cluster.Job(strings.Split(q[0], "=")[0])
	if err != nil || job["TimeLimit"] != "00:02:00" {
		t.Fatalf("the job's TimeLimit is %q, want 00:02:00 for a limit of 61s (%v)", job["TimeLimit"], err)
	}
	e.Cancel(tk.ID)
	if oc := outcome(t, ch); !oc.Cancelled {
		t.Fatalf("%+v", oc)
	}
	wait.For(t, "scancel to end the job", 30*time.Second, func() bool { q, err := cluster.Queue(); return err == nil && len(q) == 0 })
}

// A job that ends without an outcome (its prologue failed; someone scancelled it) fails its task with Slurm's
// state and the end of the job's log.
func TestJobWithoutOutcome(t *testing.T) {
	e := newExecutor(t, nil)
	tk := task(t, 1, "Echo", "never")
	tk.Settings = map[string]json.RawMessage{"prologue": json.RawMessage(`["echo loading modules", "exit 3"]`)}
	oc := outcome(t, submit(e.Submit, tk))
	for _, want := range []string{"ended FAILED (NonZeroExitCode) without an outcome", "loading modules"} {
		if !strings.Contains(oc.Error, want) || oc.ErrorKind != executors.ErrorCrash {
			t.Fatalf("error %q (%s) should contain %q", oc.Error, oc.ErrorKind, want)
		}
	}
	started := filepath.Join(t.TempDir(), "started")
	ch := submit(e.Submit, task(t, 2, "Hold", started, 10*60*1000))
	wait.For(t, "the job to start", time.Minute, func() bool { _, err := os.Stat(started); return err == nil })
	if _, err := cluster.Run("scancel", "--user=root"); err != nil {
		t.Fatal(err)
	}
	if oc := outcome(t, ch); !strings.Contains(oc.Error, "ended CANCELLED") || !strings.Contains(oc.Error, "CANCELLED AT") {
		t.Fatalf("a job scancelled behind the executor's back: %+v", oc)
	}
}

// Settings Slurm refuses, and settings that are wrong before Slurm is asked, are clear errors.
func TestBadSettings(t *testing.T) {
	e := newExecutor(t, nil)
	for setting, want := range map[string]string{
		`{"partition": "nope"}`:                 "Invalid partition name specified",
		`{"dir": "/elsewhere"}`:                 "setting dir is the executor's",
		`{"partiton": "debug"}`:                 `unknown field "partiton"`,
		`{"cpus": -1}`:                          "cpus: -1 is negative",
		`{"sbatch_options": ["--array=0-3"]}`:   "--array is the executor's to set",
		`{"time": "forever"}`:                   "Invalid --time specification",
		`{"memory": 4096, "partition": "nope"}`: "Invalid partition",
	} {
		tk := task(t, 1, "Echo", "x")
		if err := json.Unmarshal([]byte(setting), &tk.Settings); err != nil {
			t.Fatal(err)
		}
		oc := outcome(t, submit(e.Submit, tk))
		if !strings.Contains(oc.Error, want) || oc.ErrorKind != executors.ErrorSettings {
			t.Fatalf("%s: error %q (%s), want it to contain %q", setting, oc.Error, oc.ErrorKind, want)
		}
	}
	// Without a dir the executor starts (the dispatcher does not need a cluster) and its tasks fail saying why.
	unset, err := slurm.New("slurm", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unset.Close()
	for _, submitTo := range []func(*executors.Task, func(executors.Outcome)){unset.Submit, unset.Adopt} {
		oc := outcome(t, submit(submitTo, task(t, 1, "Echo", "x")))
		if !strings.Contains(oc.Error, `needs the "dir" setting (in [executors.slurm]`) || oc.ErrorKind != executors.ErrorSettings {
			t.Fatalf("without a dir: %+v", oc)
		}
	}
	for _, c := range []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{"dir": "relative"}, "not an absolute path"},
		{map[string]any{"dir": "/tmp", "platform": "linux/arm64"}, "set runner to a govalent binary built for it (GOOS=linux GOARCH=arm64"},
		{map[string]any{"dir": "/tmp", "platform": "amd64"}, "want GOOS/GOARCH"},
		{map[string]any{"dir": "/tmp", "runner": "/nonexistent/govalent"}, "setting runner"},
		{map[string]any{"dir": "/tmp", "cpus": "two"}, "cpus"},
	} {
		if _, err := slurm.New("slurm", c.settings, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("New(%v): %v, want an error containing %q", c.settings, err, c.want)
		}
	}
}

// After a restart (a new executor on the same directory), a node whose job is still running is adopted, not
// submitted again: its job's outcome is reported. So is one whose job ended meanwhile; a node that was never
// submitted is.
func TestAdoptAfterRestart(t *testing.T) { testAdoptAfterRestart(t, nil, countSbatch(t)) }

// testAdoptAfterRestart is TestAdoptAfterRestart with settings (the login node's, or none) and the count of
// sbatch calls so far.
func testAdoptAfterRestart(t *testing.T, settings map[string]any, sbatches func() int) {
	dir := t.TempDir()
	withDir := func() map[string]any {
		s := map[string]any{"dir": dir}
		for k, v := range settings {
			s[k] = v
		}
		return s
	}
	before := newExecutor(t, withDir())
	started := filepath.Join(t.TempDir(), "started")
	running := task(t, 1, "Hold", started, 3000)
	submit(before.Submit, running)
	finished := task(t, 2, "Echo", "done before")
	finishedCh := submit(before.Submit, finished)
	wait.For(t, "the long job to start", time.Minute, func() bool { _, err := os.Stat(started); return err == nil })
	outcome(t, finishedCh)
	before.Close() // the job of node 1 goes on
	submitted := sbatches()
	// As if the dispatcher had stopped between sbatch and writing the job id down: the job is found by its name.
	ids, _ := filepath.Glob(filepath.Join(dir, "batches", "*", "job"))
	for _, id := range ids {
		os.Remove(id)
	}

	after := newExecutor(t, withDir())
	again := *running
	again.ID = "d/1/restarted"
	oc := outcome(t, submit(after.Adopt, &again))
	if executortest.Text(oc.Output) != "3000" {
		t.Fatalf("adopted running job: %+v", oc)
	}
	again2 := *finished
	again2.ID = "d/2/restarted"
	if oc := outcome(t, submit(after.Adopt, &again2)); executortest.Text(oc.Output) != `"done before"` {
		t.Fatalf("adopted ended job: %+v", oc)
	}
	if n := sbatches(); n != submitted {
		t.Fatalf("%d sbatch calls after the restart; the adopted nodes must not be submitted again", n-submitted)
	}
	fresh := task(t, 3, "Echo", "new")
	if oc := outcome(t, submit(after.Adopt, fresh)); executortest.Text(oc.Output) != `"new"` || sbatches() != submitted+1 {
		t.Fatalf("a node with no earlier task: %+v, %d sbatch calls", oc, sbatches())
	}
}

// Cancelling an adopted task scancels the job from before the restart.
func TestCancelAdopted(t *testing.T) {
	dir := t.TempDir()
	before := newExecutor(t, map[string]any{"dir": dir})
	started := filepath.Join(t.TempDir(), "started")
	running := task(t, 1, "Hold", started, 10*60*1000)
	submit(before.Submit, running)
	wait.For(t, "the job to start", time.Minute, func() bool { _, err := os.Stat(started); return err == nil })
	before.Close()
	after := newExecutor(t, map[string]any{"dir": dir})
	ch := submit(after.Adopt, running)
	after.Cancel(running.ID)
	if oc := outcome(t, ch); !oc.Cancelled {
		t.Fatalf("%+v", oc)
	}
	wait.For(t, "the job to leave the queue", 30*time.Second, func() bool { q, err := cluster.Queue(); return err == nil && len(q) == 0 })
}

// countSbatch counts the test's sbatch calls.
func countSbatch(t *testing.T) func() int {
	calls := slurmtest.Calls(t, "sbatch")
	return func() int { return len(calls()) }
}

// A shared directory another user can write is refused: they could replace the runner the jobs run.
func TestDirOthersCanWriteIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := slurm.New("slurm", map[string]any{"dir": dir}, nil); err == nil || !strings.Contains(err.Error(), "only they can write") {
		t.Fatalf("New with a directory anyone can write: %v", err)
	}
}
