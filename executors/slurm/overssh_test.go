package slurm_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/executors/slurm"
	"github.com/govalent/govalent/internal/testkit/slurmtest"
	"github.com/govalent/govalent/native"
)

// loginNode starts a login node of the test cluster (a real sshd on loopback) and makes the Slurm commands of
// this side fail: every test here must reach Slurm through SSH alone.
func loginNode(t *testing.T) *slurmtest.LoginNode {
	t.Helper()
	login := cluster.LoginNode(t)
	slurmtest.NoLocalCommands(t)
	return login
}

// with is settings over the login node's.
func with(login *slurmtest.LoginNode, settings map[string]any) map[string]any {
	s := login.Settings()
	for k, v := range settings {
		s[k] = v
	}
	return s
}

// The executor passes the conformance suite through a login node, submitting with sbatch there.
func TestOverSSHConformance(t *testing.T) {
	login := loginNode(t)
	executortest.Run(t, func(t *testing.T) executors.Executor { return newExecutor(t, login.Settings()) },
		executortest.Options{Capacity: 2, Wait: time.Minute})
	if len(login.Calls("sbatch")) == 0 || len(login.Calls("squeue")) == 0 || len(login.Calls("scancel")) == 0 {
		t.Fatalf("sbatch, squeue and scancel should run on the login node; its calls: sbatch %d, squeue %d, scancel %d",
			len(login.Calls("sbatch")), len(login.Calls("squeue")), len(login.Calls("scancel")))
	}
}

// After a restart, jobs submitted through the login node are adopted through it.
func TestOverSSHAdoptAfterRestart(t *testing.T) {
	login := loginNode(t)
	testAdoptAfterRestart(t, login.Settings(), func() int { return len(login.Calls("sbatch")) })
}

// The directory on the login node is checked there, at the first task: one others can write is refused. The
// files the executor writes there are the user's alone, and the runner is uploaded once, under its hash.
func TestOverSSHDir(t *testing.T) {
	login := loginNode(t)
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	oc := outcome(t, submit(newExecutor(t, with(login, map[string]any{"dir": open})).Submit, task(t, 1, "Echo", "x")))
	if !strings.Contains(oc.Error, "writable by others than its owner") || oc.ErrorKind != executors.ErrorSettings {
		t.Fatalf("a directory anyone can write on the login node: %+v", oc)
	}
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Fatalf("the executor wrote in a directory it refused: %v", entries)
	}

	dir := filepath.Join(t.TempDir(), "made", "by", "the", "executor")
	e := newExecutor(t, with(login, map[string]any{"dir": dir}))
	for i := range 2 {
		if oc := outcome(t, submit(e.Submit, task(t, i, "Echo", "hi"))); executortest.Text(oc.Output) != `"hi"` {
			t.Fatalf("%+v", oc)
		}
	}
	hash, err := native.FileHash(runner)
	if err != nil {
		t.Fatal(err)
	}
	bins, _ := filepath.Glob(filepath.Join(dir, "bin", "*"))
	if want := filepath.Join(dir, "bin", hash); len(bins) != 1 || bins[0] != want {
		t.Fatalf("binaries in dir/bin: %v, want the runner once, as %s", bins, want)
	}
	err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if info.IsDir() || strings.HasPrefix(path, filepath.Join(dir, "bin")) || filepath.Base(path) == "job.sh" {
			want = 0o700
		}
		if strings.HasSuffix(path, ".log") {
			return nil // Slurm's, written by the job
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", path, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Login settings that cannot work are clear errors: at New when they are wrong on their face, at the first task
// when the login node refuses them; an electron cannot change them. A jump host works as the ssh executor's.
func TestOverSSHSettings(t *testing.T) {
	login := loginNode(t)
	for _, c := range []struct {
		settings map[string]any
		want     string
	}{
		{map[string]any{"dir": "/tmp", "port": 2222}, "set host too"},
		{with(login, map[string]any{"dir": "relative"}), "is not an absolute path (the nodes see it as the login node does)"},
		{with(login, map[string]any{"dir": "/tmp", "key_file": "/nonexistent/key"}), "key_file"},
		{with(login, map[string]any{"dir": "/tmp", "host": "me@127.0.0.1", "user": "other"}), "names user me"},
	} {
		if _, err := slurm.New("slurm", c.settings, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("New(%v): %v, want an error containing %q", c.settings, err, c.want)
		}
	}
	tk := task(t, 1, "Echo", "x")
	tk.Settings = map[string]json.RawMessage{"host": json.RawMessage(`"elsewhere"`)}
	oc := outcome(t, submit(newExecutor(t, login.Settings()).Submit, tk))
	if !strings.Contains(oc.Error, "setting host is the executor's") || oc.ErrorKind != executors.ErrorSettings {
		t.Fatalf("an electron setting host: %+v", oc)
	}
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	oc = outcome(t, submit(newExecutor(t, with(login, map[string]any{"known_hosts": empty})).Submit, task(t, 1, "Echo", "x")))
	if !strings.Contains(oc.Error, "is unknown: it is not in known_hosts") || oc.ErrorKind != executors.ErrorSettings {
		t.Fatalf("a login node whose host key is unknown: %+v", oc)
	}
	jumped := newExecutor(t, with(login, map[string]any{"jump": login.User + "@" + login.Addr()}))
	if oc := outcome(t, submit(jumped.Submit, task(t, 1, "Echo", "via the jump host"))); executortest.Text(oc.Output) != `"via the jump host"` {
		t.Fatalf("through a jump host: %+v", oc)
	}
}
