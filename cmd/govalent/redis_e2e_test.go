package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/interp"
)

// startRedis runs a redis-server of the test's own on loopback, with an append-only file.
func startRedis(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/redis-server"); err != nil {
		t.Fatal("redis-server is not installed: run `make deps` (install/test-deps.sh)")
	}
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command("/usr/bin/redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--save", "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for exec.Command("redis-cli", "-p", strconv.Itoa(port), "ping").Run() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
}

func startWorker(t *testing.T, redisURL string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, "worker", "--redis", redisURL, "--concurrency", "1", "--lease", "1s")
	cmd.Env = append(os.Environ(), "GOVALENT_CONFIG="+filepath.Join(t.TempDir(), "none.toml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// A dispatcher started with --redis runs electrons on `govalent worker --redis` processes; a worker killed
// with SIGKILL in the middle of a task loses its lease, and another worker runs the task again.
func TestRedisPoolSurvivesAWorkerSIGKILL(t *testing.T) {
	redisURL := startRedis(t)
	dir := t.TempDir()
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	d := exec.Command(binary, "start", "--foreground", "--data-dir", dir, "--port", strconv.Itoa(port), "--redis", redisURL)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Kill(); d.Wait() })
	workers := []*exec.Cmd{startWorker(t, redisURL), startWorker(t, redisURL)}
	client := ct.NewClient(url)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st map[string]any
		if client.Status(&st) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dispatcher did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	runs := filepath.Join(dir, "runs")
	t.Setenv("GOVALENT_DISPATCHER", url)
	s, err := interp.New(interp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Eval(context.Background(), `
import ("fmt"; "os"; "time")
const runs = "`+runs+`"
func Work(i int) int {
	f, _ := os.OpenFile(runs, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	fmt.Fprintln(f, i, os.Getppid())
	f.Close()
	time.Sleep(1500 * time.Millisecond)
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
id, err := ct.Dispatch(fan, 4)
if err != nil { panic(err) }`)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.Eval(context.Background(), "id")
	id := v.Value.Interface().(string)

	// wait until both workers run a task, then kill the first one's worker process
	victim := workers[0].Process.Pid
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(readFile(runs), " "+strconv.Itoa(victim)+"\n") {
		if time.Now().After(deadline) {
			t.Fatalf("the first worker never ran a task: %q", readFile(runs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(victim, syscall.SIGKILL)

	res, err := client.GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || res.Result != 60 {
		t.Fatalf("after the kill: %+v %v", res, err)
	}
	lines := strings.Split(strings.TrimSpace(readFile(runs)), "\n")
	if len(lines) < 5 {
		t.Fatalf("the killed task should have run again on the other worker: %q", lines)
	}
	t.Logf("task starts (node, worker pid): %q", lines)
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
