package dispatcher_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors/slurm"
	"github.com/govalent/govalent/internal/testkit/slurmtest"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// slurmSuite is a one-node Slurm cluster (real slurmctld, slurmd and munged on loopback) shared by the
// subtests of TestSlurm, and the runner its jobs run.
type slurmSuite struct {
	cluster *slurmtest.Cluster
	runner  string
	login   *slurmtest.LoginNode // the executor reaches the cluster through it, if set
}

// TestSlurm runs workflows on the slurm executor against one cluster, started once for all of them.
func TestSlurm(t *testing.T) { testSlurm(t, false) }

// TestSlurmOverSSH runs them through a login node of the cluster (a real sshd on loopback), with no Slurm
// commands on the dispatcher's side.
func TestSlurmOverSSH(t *testing.T) { testSlurm(t, true) }

func testSlurm(t *testing.T, overSSH bool) {
	cluster, err := slurmtest.Start(slurmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	t.Setenv("SLURM_CONF", cluster.Conf)
	runner, err := slurmtest.BuildRunner(cluster.Dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &slurmSuite{cluster: cluster, runner: runner}
	if overSSH {
		s.login = cluster.LoginNode(t)
		slurmtest.NoLocalCommands(t)
	}
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"Workflow", s.workflow},
		{"Cancel", s.cancel},
		{"FanOutIsOneArray", s.fanOut},
		{"RestartAdoptsTheRunningJob", s.restart},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() {
				if err := cluster.CancelAll(); err != nil {
					t.Error(err)
				}
			})
			c.run(t)
		})
	}
}

// slurmEnv is a dispatcher whose "slurm" executor submits to the suite's cluster, with a shared directory
// kept across restarts of the dispatcher.
type slurmEnv struct {
	*env
	t    *testing.T
	s    *slurmSuite
	dir  string // the executor's shared directory
	cfg  dispatcher.Config
	stop func()
}

func (s *slurmSuite) newEnv(t *testing.T) *slurmEnv {
	e := &slurmEnv{t: t, s: s, dir: t.TempDir(), cfg: dispatcher.Config{DataDir: t.TempDir()}}
	e.env, e.stop = e.start()
	return e
}

// start runs a dispatcher on e.cfg with fresh executors, the built-in ones and "slurm".
func (e *slurmEnv) start() (*env, func()) {
	execs := testExecutors(e.t, nil)
	settings := map[string]any{"dir": e.dir, "runner": e.s.runner, "poll": "50ms", "max_poll": "500ms",
		"array_window": "250ms"} // long enough that a busy machine does not split a fan-out's burst
	if e.s.login != nil {
		for k, v := range e.s.login.Settings() {
			settings[k] = v
		}
	}
	ex, err := slurm.New("slurm", settings, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	execs["slurm"] = ex
	cfg := e.cfg
	cfg.Executors = execs
	return startEnv(e.t, cfg)
}

// job is the Slurm job id of the latest task of a node ("123_4", or "123" for a job of its own), from the task
// directory the executor keeps.
func (e *slurmEnv) job(dispatchID string, node int) string {
	e.t.Helper()
	nodeDir := filepath.Join(e.dir, "tasks", dispatchID, strconv.Itoa(node))
	latest, err := os.ReadFile(filepath.Join(nodeDir, "latest"))
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(nodeDir, strings.TrimSpace(string(latest)), "batch"))
	if err != nil {
		e.t.Fatal(err)
	}
	f := strings.Fields(string(raw)) // batch, index, count
	id, err := os.ReadFile(filepath.Join(e.dir, "batches", f[0], "job"))
	if err != nil {
		e.t.Fatal(err)
	}
	if f[2] == "1" {
		return strings.TrimSpace(string(id))
	}
	return strings.TrimSpace(string(id)) + "_" + f[1]
}

// Workflows complete and fail on Slurm; a node's time limit is its job's --time (whole minutes) and holds it
// to the limit itself; an unknown partition is the node's clear error. Electrons run from the program's native
// binary, copied into the shared directory (in the native tier; the runner interprets them otherwise).
func (s *slurmSuite) workflow(t *testing.T) {
	e := s.newEnv(t)
	e.cell(`
import (
	"errors"
	"os"
	"strings"
	"time"
)

func Shout(s string) string { return strings.ToUpper(s) + "!" }
func Where() string { return os.Getenv("SLURM_JOB_ID") + " " + os.Args[0] }
func Fail(s string) (string, error) { return "", errors.New("no good: " + s) }
func Slow() int { time.Sleep(time.Minute); return 1 }

var shout = ct.Electron(Shout, ct.Executor("slurm"), ct.With("cpus", 1), ct.With("memory", "200M"))
var where = ct.Electron(Where, ct.Executor("slurm"))
var fail = ct.Electron(Fail, ct.Executor("slurm"))
var slow = ct.Electron(Slow, ct.Executor("slurm"), ct.TimeLimit(time.Second))
var nowhere = ct.Electron(Shout, ct.Executor("slurm"), ct.With("partition", "nope"))
var join = ct.Electron(func(a, b string) string { return a + " | " + b })

res, err := ct.DispatchSync(ct.Lattice(func(s string) ct.Future { return join(shout(s), where()) }), "hello")
bad, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return fail("input") }))
overtime, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return slow() }))
lost, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return nowhere("x") }))
`)
	res := e.result("res")
	if res.Status != ct.StatusCompleted || !strings.HasPrefix(res.Result.(string), "HELLO! | ") {
		t.Fatalf("%s %v: %s", res.Status, res.Result, res.Error)
	}
	jobID, exe, _ := strings.Cut(res.Nodes[1].Output.(string), " ")
	if jobID == "" || filepath.Dir(exe) != filepath.Join(e.dir, "bin") {
		t.Fatalf("the electron ran in job %q from %q; want a Slurm job running a binary in %s", jobID, exe, filepath.Join(e.dir, "bin"))
	}
	if runnerHash := fileSHA256(t, s.runner); native() == (filepath.Base(exe) == runnerHash) {
		t.Fatalf("tier %s: the electron ran from %s (the runner is %s)", testTier, exe, runnerHash)
	}
	for name, want := range map[string]string{
		"bad":      "no good: input",
		"overtime": "time limit of 1s exceeded",
		"lost":     "Invalid partition name specified",
	} {
		r := e.result(name)
		if r.Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, want) {
			t.Fatalf("%s: %s, node error %q should contain %q", name, r.Status, r.Nodes[0].Error, want)
		}
	}
	job, err := s.cluster.Job(e.job(e.result("overtime").DispatchID, 0))
	if err != nil || job["TimeLimit"] != "00:01:00" {
		t.Fatalf("the job of a node with a 1s limit: TimeLimit %q, want 00:01:00 (%v)", job["TimeLimit"], err)
	}
}

// sbatchCount counts the test's sbatch calls, on this machine or the login node.
func (s *slurmSuite) sbatchCount(t *testing.T) func() int {
	if s.login != nil {
		before := len(s.login.Calls("sbatch"))
		return func() int { return len(s.login.Calls("sbatch")) - before }
	}
	calls := slurmtest.Calls(t, "sbatch")
	return func() int { return len(calls()) }
}

// dispatchNap dispatches first() then nap(first()) on Slurm, nap sleeping for secs, and returns the dispatch id.
func (e *slurmEnv) dispatchNap(secs int) string {
	e.cell(`
import "time"
func First() int { return 1 }
func Nap(n, secs int) int { time.Sleep(time.Duration(secs) * time.Second); return n + 1 }
func Last(n int) int { return n * 10 }
var first = ct.Electron(First, ct.Executor("slurm"))
var nap = ct.Electron(Nap, ct.Executor("slurm"))
var last = ct.Electron(Last, ct.Executor("slurm"))
id, err := ct.Dispatch(ct.Lattice(func(secs int) ct.Future { return last(nap(first(), secs)) }), ` + strconv.Itoa(secs) + `)
`)
	return e.value("id").(string)
}

// waitNapRunning waits until the nap node's job runs on the cluster.
func (e *slurmEnv) waitNapRunning(id string) {
	wait.For(e.t, "the nap's job to run", time.Minute, func() bool {
		r, err := e.client().GetResult(id, false)
		if err != nil || len(r.Nodes) < 2 || r.Nodes[1].Status != ct.StatusRunning {
			return false
		}
		q, err := e.s.cluster.Queue()
		return err == nil && len(q) == 1 && strings.HasSuffix(q[0], "=RUNNING")
	})
}

// Cancelling a dispatch scancels its running job, which leaves the queue.
func (s *slurmSuite) cancel(t *testing.T) {
	e := s.newEnv(t)
	id := e.dispatchNap(600)
	e.waitNapRunning(id)
	if err := e.client().Cancel(id); err != nil {
		t.Fatal(err)
	}
	r, err := e.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusCancelled || r.Nodes[1].Status != ct.StatusCancelled {
		t.Fatalf("%v: %+v", err, r)
	}
	wait.For(t, "the job to leave the queue", 30*time.Second, func() bool {
		q, err := s.cluster.Queue()
		return err == nil && len(q) == 0
	})
	job, err := s.cluster.Job(e.job(id, 1))
	if err != nil || job["JobState"] != "CANCELLED" {
		t.Fatalf("the nap's job: %q (%v)", job["JobState"], err)
	}
}

// A fan-out of 20 electrons is one sbatch: a job array of 20.
func (s *slurmSuite) fanOut(t *testing.T) {
	sbatches := s.sbatchCount(t)
	e := s.newEnv(t)
	e.cell(`
func Square(i int) int { return i * i }
func Sum(xs []int) int { s := 0; for _, x := range xs { s += x }; return s }
var square = ct.Electron(Square, ct.Executor("slurm"))
var sum = ct.Electron(Sum)
var flow = ct.Lattice(func(n int) ct.Future {
	var fs []ct.Future
	for i := 0; i < n; i++ {
		fs = append(fs, square(i))
	}
	return sum(fs)
})
res, err := ct.DispatchSync(flow, 20)
`)
	res := e.result("res")
	if res.Status != ct.StatusCompleted || fmt.Sprint(res.Result) != "2470" {
		t.Fatalf("%s %v: %s", res.Status, res.Result, res.Error)
	}
	if n := sbatches(); n != 1 {
		t.Fatalf("%d sbatch calls for a fan-out of 20, want 1", n)
	}
	arrays, indexes := map[string]bool{}, map[string]bool{}
	for i := range 20 {
		array, index, ok := strings.Cut(e.job(res.DispatchID, i), "_")
		if !ok {
			t.Fatalf("node %d ran as job %s, not an array task", i, array)
		}
		arrays[array], indexes[index] = true, true
	}
	if len(arrays) != 1 || len(indexes) != 20 {
		t.Fatalf("the 20 electrons ran in %d arrays as %d array tasks, want one array of 20", len(arrays), len(indexes))
	}
}

// After a dispatcher restart, the node whose job was running is adopted (its job reports its outcome, it is
// not submitted again), the node completed before the restart does not run again, and the workflow completes.
func (s *slurmSuite) restart(t *testing.T) {
	sbatches := s.sbatchCount(t)
	e := s.newEnv(t)
	id := e.dispatchNap(4)
	e.waitNapRunning(id)
	napJob := e.job(id, 1)
	if n := sbatches(); n != 2 {
		t.Fatalf("%d sbatch calls before the restart, want 2 (first, nap)", n)
	}
	e.stop()
	if q, err := s.cluster.Queue(); err != nil || len(q) != 1 {
		t.Fatalf("the nap's job should outlive the dispatcher: queue %v %v", q, err)
	}
	e.env, e.stop = e.start()
	r, err := e.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusCompleted || fmt.Sprint(r.Result) != "20" {
		t.Fatalf("after the restart: %v %+v", err, r)
	}
	if n := sbatches(); n != 3 {
		t.Fatalf("%d sbatch calls in all, want 3: first and nap before the restart, last after it", n)
	}
	if job := e.job(id, 1); job != napJob {
		t.Fatalf("the nap ran as job %s after the restart, was %s", job, napJob)
	}
	if r.Nodes[0].Attempts > 1 || r.Nodes[1].Attempts > 1 {
		t.Fatalf("attempts: first %d, nap %d", r.Nodes[0].Attempts, r.Nodes[1].Attempts)
	}
}
