package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/interp"
)

// testRedis is a redis-server of the test's own on loopback, with an append-only file.
type testRedis struct {
	port int
	dir  string
	cmd  *exec.Cmd
	args []string // the server's command line, without the data directory
}

func startRedis(t *testing.T, extra ...string) *testRedis {
	t.Helper()
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		t.Fatal("redis-server is not installed: run `make deps` (install/test-deps.sh)")
	}
	r := &testRedis{port: freePort(t), dir: t.TempDir()}
	r.args = append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--appendonly", "yes", "--save", ""}, extra...)
	r.start(t)
	t.Cleanup(func() { r.cmd.Process.Kill(); r.cmd.Wait() })
	return r
}

func (r *testRedis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

func (r *testRedis) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("/usr/bin/redis-server", append([]string{"--dir", r.dir}, r.args...)...)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restart kills the server and starts it again on the same port and data.
func (r *testRedis) restart(t *testing.T, down time.Duration) {
	t.Helper()
	r.cmd.Process.Kill()
	r.cmd.Wait()
	time.Sleep(down)
	r.start(t)
}

// startWorker starts a Redis worker that reads the dispatcher's key file from dataDir, as a worker on another
// machine reads the copy it was given. It keeps what it fetches in a data directory of its own.
func startWorker(t *testing.T, redisURL, dataDir string, extra ...string) *exec.Cmd {
	t.Helper()
	return startWorkerIn(t, os.Environ(), redisURL, dataDir, t.TempDir(), extra...)
}

// startWorkerIn is startWorker with the environment env and the data directory workerDir.
func startWorkerIn(t *testing.T, env []string, redisURL, dataDir, workerDir string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"worker", "--redis", redisURL, "--concurrency", "1", "--lease", "1s", "--data-dir", workerDir}, extra...)...)
	cmd.Env = append(env, "GOVALENT_CONFIG="+filepath.Join(t.TempDir(), "none.toml"),
		"GOVALENT_REDIS_KEY_FILE="+filepath.Join(dataDir, "redis.key"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// redisSetup is a dispatcher started with --redis, n workers, and a session whose ct calls go to it.
type redisSetup struct {
	redis              *testRedis
	redisURL, url, dir string
	port               int
	dispatcher         *exec.Cmd
	workers            []*exec.Cmd
	client             *ct.Client
	session            *interp.Session
}

func newRedisSetup(t *testing.T, workers int) *redisSetup {
	t.Helper()
	redis := startRedis(t)
	return newRedisSetupOn(t, redis, redis.url(), workers)
}

// newRedisSetupOn is newRedisSetup on a given Redis, reached at redisURL.
func newRedisSetupOn(t *testing.T, redis *testRedis, redisURL string, workers int) *redisSetup {
	t.Helper()
	r := &redisSetup{redis: redis, dir: t.TempDir(), port: freePort(t)}
	r.redisURL = redisURL
	r.url = "http://127.0.0.1:" + strconv.Itoa(r.port)
	r.startDispatcher(t)
	for i := 0; i < workers; i++ {
		r.workers = append(r.workers, startWorker(t, r.redisURL, r.dir))
	}
	t.Setenv("GOVALENT_DISPATCHER", r.url)
	s, err := interp.New(interp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r.session = s
	return r
}

func (r *redisSetup) startDispatcher(t *testing.T) {
	t.Helper()
	r.dispatcher, r.client = startForeground(t, r.dir, r.port, "--redis", r.redisURL), ct.NewClient(r.url)
}

// workerPIDFunc is a cell's func workerPID: the pid of the Redis worker whose task process runs the electron.
// Interpreted, the electron runs in that process (`govalent worker --pipe`), whose parent is the worker; native,
// it runs in the program's binary, which that process started.
const workerPIDFunc = `
import ("os"; "path/filepath"; "strconv"; "strings")
func workerPID() int {
	pid := os.Getppid()
	if exe, _ := os.Executable(); filepath.Base(exe) != "govalent" {
		stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		pid, _ = strconv.Atoi(strings.Fields(string(stat))[3])
	}
	return pid
}
`

// dispatchWork dispatches n Work electrons that log "node worker-pid" to a file, sleep ms and return 10*i,
// summed; it returns the dispatch id and the log file.
func (r *redisSetup) dispatchWork(t *testing.T, n, ms int) (string, string) {
	t.Helper()
	runs := filepath.Join(r.dir, "runs")
	return r.dispatchCell(t, workerPIDFunc+`
import ("fmt"; "time")
const runs = "`+runs+`"
func Work(i int) int {
	f, _ := os.OpenFile(runs, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	fmt.Fprintln(f, i, workerPID())
	f.Close()
	time.Sleep(`+strconv.Itoa(ms)+` * time.Millisecond)
	return i * 10
}
func Sum(xs []int) int { t := 0; for _, x := range xs { t += x }; return t }
var work = ct.Electron(Work)
var sum = ct.Electron(Sum)
var fan = ct.Lattice(func(n int) ct.Future {
	var parts []ct.Future
	for i := 0; i < n; i++ { parts = append(parts, work(i)) }
	return sum(parts)
})
id, err := ct.Dispatch(fan, `+strconv.Itoa(n)+`)
if err != nil { panic(err) }`), runs
}

// dispatchCell evaluates a cell that dispatches and sets id, and returns the dispatch id.
func (r *redisSetup) dispatchCell(t *testing.T, src string) string {
	t.Helper()
	if _, err := r.session.Eval(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	v, err := r.session.Eval(context.Background(), "id")
	if err != nil {
		t.Fatal(err)
	}
	return v.Value.Interface().(string)
}

// waitForRun waits until the log shows a task started by the worker process with pid.
func waitForRun(t *testing.T, runs string, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readFile(runs), " "+strconv.Itoa(pid)+"\n") {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d never ran a task: %q", pid, readFile(runs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A dispatcher started with --redis runs electrons on `govalent worker --redis` processes; a worker killed
// with SIGKILL in the middle of a task loses its lease, and another worker runs the task again.
func TestRedisPoolSurvivesAWorkerSIGKILL(t *testing.T) {
	r := newRedisSetup(t, 2)
	id, runs := r.dispatchWork(t, 4, 1500)
	victim := r.workers[0].Process.Pid
	waitForRun(t, runs, victim)
	syscall.Kill(victim, syscall.SIGKILL)
	res, err := r.client.GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || res.Result != 60 {
		t.Fatalf("after the kill: %+v %v", res, err)
	}
	lines := strings.Split(strings.TrimSpace(readFile(runs)), "\n")
	if len(lines) < 5 {
		t.Fatalf("the killed task should have run again on the other worker: %q", lines)
	}
	t.Logf("task starts (node, worker pid): %q", lines)
}

// A worker paused (SIGSTOP) past its lease loses the task to another worker; resumed, its late result is
// ignored: each node is completed once, with the right value.
func TestRedisPoolIgnoresALateResultFromAPausedWorker(t *testing.T) {
	r := newRedisSetup(t, 2)
	id, runs := r.dispatchWork(t, 2, 1500)
	paused := r.workers[0].Process.Pid
	waitForRun(t, runs, paused)
	syscall.Kill(paused, syscall.SIGSTOP)
	time.Sleep(3 * time.Second) // lease 1 s, recovery every second: the task is on the other worker by now
	syscall.Kill(paused, syscall.SIGCONT)
	res, err := r.client.GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || res.Result != 10 {
		t.Fatalf("%+v %v", res, err)
	}
	for _, n := range res.Nodes {
		if n.Name == "Work" && n.Attempts != 1 {
			t.Fatalf("node %d attempts %d: a lost lease is not a failed attempt", n.NodeID, n.Attempts)
		}
	}
	if lines := strings.Split(strings.TrimSpace(readFile(runs)), "\n"); len(lines) != 3 {
		t.Fatalf("want the paused worker's task run once more elsewhere: %q", lines)
	}
}

// Cancelling a dispatch stops its running tasks on remote workers within a second or two.
func TestRedisPoolCancelReachesRemoteWorkers(t *testing.T) {
	r := newRedisSetup(t, 2)
	id, runs := r.dispatchWork(t, 2, 60000)
	waitForRun(t, runs, r.workers[0].Process.Pid)
	waitForRun(t, runs, r.workers[1].Process.Pid)
	start := time.Now()
	if err := r.client.Cancel(id); err != nil {
		t.Fatal(err)
	}
	res, err := r.client.GetResult(id, true)
	if err != nil || res.Status != ct.StatusCancelled {
		t.Fatalf("%+v %v", res, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("cancel took %s", took)
	}
}

// The dispatcher killed with SIGKILL while 2 workers are busy: restarted, it resumes; no COMPLETED node runs
// again.
func TestRedisPoolDispatcherSIGKILL(t *testing.T) {
	r := newRedisSetup(t, 2)
	id, runs := r.dispatchWork(t, 8, 700)
	var before *ct.Result
	deadline := time.Now().Add(30 * time.Second)
	for {
		before, _ = r.client.GetResult(id, false)
		if before != nil && countStatus(before, ct.StatusCompleted) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.dispatcher.Process.Signal(syscall.SIGKILL)
	r.dispatcher.Wait()
	r.startDispatcher(t)
	res, err := r.client.GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || res.Result != 280 {
		t.Fatalf("after restart: %+v %v", res, err)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(runs)), "\n") {
		count[strings.Fields(line)[0]]++
	}
	for _, n := range before.Nodes {
		if n.Name == "Work" && n.Status == ct.StatusCompleted && count[strconv.Itoa(n.NodeID)] != 1 {
			t.Fatalf("node %d was COMPLETED before the kill but ran %d times", n.NodeID, count[strconv.Itoa(n.NodeID)])
		}
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// Redis killed and restarted (append-only file) mid-workflow: workers and dispatcher reconnect and the workflow
// completes with the right value.
func TestRedisPoolSurvivesARedisRestart(t *testing.T) {
	r := newRedisSetup(t, 2)
	id, runs := r.dispatchWork(t, 6, 800)
	waitForRun(t, runs, r.workers[0].Process.Pid)
	r.redis.restart(t, 500*time.Millisecond)
	res, err := r.client.GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || res.Result != 150 {
		t.Fatalf("after the restart: %+v %v", res, err)
	}
}

// govalent status lists the Redis workers, with their platforms, and the queue depths.
func TestRedisPoolStatusShowsWorkers(t *testing.T) {
	r := newRedisSetup(t, 2)
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := govalent(t, nil, "status", "--port", strconv.Itoa(r.port))
		out = o
		if err == nil && strings.Count(out, "default") >= 2 && strings.Contains(out, strconv.Itoa(r.workers[0].Process.Pid)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out, "QUEUE") || !strings.Contains(out, "WORKER") || !strings.Contains(out, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("status:\n%s", out)
	}
}

// ct.Queue sends an electron to the workers that serve that queue.
func TestRedisPoolNamedQueues(t *testing.T) {
	r := newRedisSetup(t, 1) // serves "default"
	gpu := startWorker(t, r.redisURL, r.dir, "--queue", "gpu")
	_, err := r.session.Eval(context.Background(), workerPIDFunc+`
func Where() int { return workerPID() }
var onGPU = ct.Electron(Where, ct.Queue("gpu"))
var anywhere = ct.Electron(Where)
res, err := ct.DispatchSync(ct.Lattice(func() []ct.Future { return []ct.Future{onGPU(), onGPU(), anywhere()} }))
if err != nil { panic(err) }`)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.session.Eval(context.Background(), "res")
	res := v.Value.Interface().(*ct.Result)
	want := []int{gpu.Process.Pid, gpu.Process.Pid, r.workers[0].Process.Pid}
	for i, n := range res.Nodes[:3] {
		if n.Output != want[i] {
			t.Fatalf("node %d ran on %v, want worker %d (%s)", i, n.Output, want[i], res.Error)
		}
	}
}

// A Redis worker on a machine without a Go toolchain runs electrons natively: the dispatcher builds the program
// for the worker's platform (from its heartbeat) and stores the binary in Redis, and the worker fetches it
// into its data directory, checks it and runs it. The electron reports the executable running it, which is the
// fetched binary (interpreted, it would be the govalent binary).
func TestRedisWorkerRunsAFetchedNativeBinary(t *testing.T) {
	r := newRedisSetup(t, 0)
	noGo := t.TempDir() // the worker's whole PATH
	env := []string{"PATH=" + noGo}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "PATH" && name != "GOVALENT_GO" && name != "GOROOT" {
			env = append(env, kv)
		}
	}
	workerDir := t.TempDir()
	worker := startWorkerIn(t, env, r.redisURL, r.dir, workerDir)
	waitForStatus(t, r, strconv.Itoa(worker.Process.Pid))
	_, err := r.session.Eval(context.Background(), workerPIDFunc+`
func Exe() []string { p, _ := os.Executable(); return []string{p, strconv.Itoa(workerPID())} }
var exe = ct.Electron(Exe)
res, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return exe() }))
if err != nil { panic(err) }`)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.session.Eval(context.Background(), "res")
	res := v.Value.Interface().(*ct.Result)
	if res.Status != ct.StatusCompleted {
		t.Fatalf("%s: %s (notes %q)", res.Status, res.Error, res.Notes)
	}
	out, _ := res.Result.([]any)
	if len(out) != 2 {
		t.Fatalf("result %#v", res.Result)
	}
	exe, _ := out[0].(string)
	if dir, hash := filepath.Split(exe); dir != filepath.Join(workerDir, "native", "fetched")+"/" {
		t.Fatalf("the electron ran in %s, not in a binary the worker fetched (notes %q)", exe, res.Notes)
	} else if got := fileSHA256(t, exe); got != hash {
		t.Fatalf("the fetched binary's sha256 is %s, its name says %s", got, hash)
	}
	if out[1] != strconv.Itoa(worker.Process.Pid) {
		t.Fatalf("ran under %v, not the worker %d", out[1], worker.Process.Pid)
	}
	if fi, err := os.Stat(exe); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the fetched binary: %v %v", fi.Mode(), err)
	}
}

// waitForStatus waits until govalent status shows want (a live worker's pid, say).
func waitForStatus(t *testing.T, r *redisSetup, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := govalent(t, nil, "status", "--port", strconv.Itoa(r.port))
		if err == nil && strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed %s: %v\n%s", want, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
