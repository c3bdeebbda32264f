package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/internal/testkit/slurmtest"
	"github.com/govalent/govalent/internal/testkit/sshtest"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/interp"
)

// A real `govalent start` whose electrons run on the ssh executor (configured in its config file) is killed
// with SIGKILL while an electron runs on the host; started again, it adopts that electron, which runs once, and
// the node completed before the kill does not run again.
func TestSSHExecutorSurvivesADispatcherSIGKILL(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	adoptsAfterSIGKILL(t, dir, "ssh", fmt.Sprintf("[executors.ssh]\nhost = %q\nport = %d\nuser = %q\nkey_file = %q\nknown_hosts = %q\nremote_dir = %q\n",
		srv.Host, srv.Port, srv.User, srv.KeyFile, srv.KnownHosts, filepath.Join(dir, "host")))
}

// The same on the slurm executor, against a real one-node cluster: the job survives the dispatcher and is
// adopted, not submitted again.
func TestSlurmExecutorSurvivesADispatcherSIGKILL(t *testing.T) {
	cluster, err := slurmtest.Start(slurmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	t.Setenv("SLURM_CONF", cluster.Conf) // for the dispatcher's sbatch and squeue
	dir := t.TempDir()
	adoptsAfterSIGKILL(t, dir, "slurm", fmt.Sprintf("[executors.slurm]\ndir = %q\n", filepath.Join(dir, "shared")))
}

// The same through a login node over SSH (a real sshd on loopback), with no Slurm commands on the dispatcher's
// side: the job is submitted and, after the SIGKILL, adopted through the login node.
func TestSlurmExecutorThroughALoginNodeSurvivesADispatcherSIGKILL(t *testing.T) {
	cluster, err := slurmtest.Start(slurmtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	login := cluster.LoginNode(t)
	slurmtest.NoLocalCommands(t)
	dir := t.TempDir()
	adoptsAfterSIGKILL(t, dir, "slurm", fmt.Sprintf("[executors.slurm]\nhost = %q\nport = %d\nuser = %q\nkey_file = %q\nknown_hosts = %q\ndir = %q\n",
		login.Host, login.Port, login.User, login.KeyFile, login.KnownHosts, filepath.Join(dir, "shared")))
	if n := len(login.Calls("sbatch")); n != 2 {
		t.Fatalf("%d sbatch calls on the login node, want 2 (one per electron)", n)
	}
}

// adoptsAfterSIGKILL runs a chain of two electrons on executor (set up by config, a config file's text) with a
// real dispatcher in dir, SIGKILLs it while the second runs, starts it again and checks that each ran once.
func adoptsAfterSIGKILL(t *testing.T, dir, executor, config string) {
	port := freePort(t)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	dispatcher := startForeground(t, dir, port)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	t.Setenv("GOVALENT_DISPATCHER", url)
	s, err := interp.New(interp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	first, second, gate := filepath.Join(dir, "first"), filepath.Join(dir, "second"), filepath.Join(dir, "gate")
	if _, err := s.Eval(context.Background(), fmt.Sprintf(`
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
		if _, err := os.Stat(gate); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

var count = ct.Electron(Count, ct.Executor(%q))
id, err := ct.Dispatch(ct.Lattice(func() ct.Future { return count(count(0, %q, ""), %q, %q) }))
if err != nil {
	panic(err)
}`, executor, first, second, gate)); err != nil {
		t.Fatal(err)
	}
	v, err := s.Eval(context.Background(), "id")
	if err != nil {
		t.Fatal(err)
	}
	id := v.Value.Interface().(string)
	runs := func(path string) int { return strings.Count(readFile(path), "\n") }
	// The first node is stored COMPLETED (its dependent may start before that: a restart then runs both again).
	wait.For(t, "the first electron stored and the second started on "+executor, 2*time.Minute, func() bool {
		r, err := ct.NewClient(url).GetResult(id, false)
		return err == nil && r.Node(0).Status == ct.StatusCompleted && runs(second) == 1
	})
	dispatcher.Process.Signal(syscall.SIGKILL)
	dispatcher.Wait()

	startForeground(t, dir, port)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := ct.NewClient(url).GetResult(id, true)
	if err != nil || r.Status != ct.StatusCompleted || fmt.Sprint(r.Result) != "1" {
		t.Fatalf("after the restart: %+v %v", r, err)
	}
	if runs(first) != 1 || runs(second) != 1 {
		t.Fatalf("the electrons ran %d and %d times, want once each", runs(first), runs(second))
	}
}
