package ssh

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/sshtest"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// program is the tests' own electrons: Count appends a line to a file each time it runs (the side effect that
// tells how often it ran), waits for a gate file, and returns how many lines the file has.
const program = `package main

import ("os"; "strings"; "time")

func Count(path, gate string) int {
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
`

var programHash = func() string { s := sha256.Sum256([]byte(program)); return hex.EncodeToString(s[:16]) }()

var taskSeq atomic.Int64

func countTask(t *testing.T, node int, counter, gate string) *executors.Task {
	task := &executors.Task{ID: fmt.Sprintf("%s-%d", t.Name(), taskSeq.Add(1)), DispatchID: "adopt-" + strings.ReplaceAll(t.Name(), "/", "-"), NodeID: node,
		Kind: executors.KindElectron, Entry: "Count", ProgramHash: programHash, Program: program}
	for _, a := range []string{counter, gate} {
		raw, _ := json.Marshal(a)
		task.Args = append(task.Args, raw)
	}
	return task
}

// outcome runs submit and waits for the outcome.
func outcome(t *testing.T, submit func(*executors.Task, func(executors.Outcome)), task *executors.Task) executors.Outcome {
	t.Helper()
	ch := make(chan executors.Outcome, 1)
	submit(task, func(oc executors.Outcome) { ch <- oc })
	select {
	case oc := <-ch:
		return oc
	case <-time.After(time.Minute):
		t.Fatalf("no outcome of %s", task.ID)
		return executors.Outcome{}
	}
}

func lines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// After the executor is closed (the dispatcher stopped) with a task running on the host, a new executor's
// Adopt reports that task's outcome, without running the node again; a node whose task ended meanwhile is
// reported from its outcome file; a node with no task on the host runs.
func TestAdoptAfterRestart(t *testing.T) {
	srv := sshtest.Start(t)
	table := settings(t, srv)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	running, finished, fresh := filepath.Join(dir, "running"), filepath.Join(dir, "finished"), filepath.Join(dir, "fresh")

	first := newExecutor(t, table)
	if oc := outcome(t, first.Submit, countTask(t, 1, finished, "")); string(oc.Output) == "" || oc.Error != "" {
		t.Fatalf("a task before the restart: %+v", oc)
	}
	first.Submit(countTask(t, 0, running, gate), func(oc executors.Outcome) { t.Errorf("reported after Close: %+v", oc) })
	stuck := filepath.Join(dir, "stuck")
	first.Submit(countTask(t, 3, stuck, filepath.Join(dir, "never")), func(oc executors.Outcome) { t.Errorf("reported after Close: %+v", oc) })
	wait.For(t, "the tasks to start on the host", time.Minute, func() bool { return lines(t, running) == 1 && lines(t, stuck) == 1 })
	first.Close()

	second := newExecutor(t, table)
	defer second.Close()
	adopted := make(chan executors.Outcome, 1)
	second.Adopt(countTask(t, 0, running, gate), func(oc executors.Outcome) { adopted <- oc })
	if oc := outcome(t, second.Adopt, countTask(t, 1, finished, "")); executortest.Text(oc.Output) != "1" {
		t.Fatalf("adopting a node whose task ended: %+v (%q)", oc, oc.Output)
	}
	if oc := outcome(t, second.Adopt, countTask(t, 2, fresh, "")); executortest.Text(oc.Output) != "1" {
		t.Fatalf("adopting a node with no task on the host: %+v", oc)
	}
	// An adopted task's time limit counts from its adoption.
	overtime := countTask(t, 3, stuck, filepath.Join(dir, "never"))
	overtime.TimeLimit = 500 * time.Millisecond
	if oc := outcome(t, second.Adopt, overtime); oc.ErrorKind != executors.ErrorTimeLimit || !strings.Contains(oc.Error, "time limit of 500ms exceeded") {
		t.Fatalf("adopting a task that runs past its time limit: %+v", oc)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case oc := <-adopted:
		if executortest.Text(oc.Output) != "1" || oc.Error != "" {
			t.Fatalf("the adopted task: %+v", oc)
		}
	case <-time.After(time.Minute):
		t.Fatal("the adopted task's outcome never came")
	}
	for _, f := range []string{running, finished, fresh, stuck} {
		if n := lines(t, f); n != 1 {
			t.Fatalf("%s ran %d times, want once", filepath.Base(f), n)
		}
	}
}

// What cannot work is a clear error on the task, and a settings error (running it again cannot help).
func TestBadHostsAndSettings(t *testing.T) {
	srv := sshtest.Start(t)
	dir := t.TempDir()
	otherKey := filepath.Join(dir, "other_key")
	otherPub, err := sshtest.WriteKey(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(dir, "changed_known_hosts")
	os.WriteFile(changed, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, otherPub)+"\n"), 0o600)
	empty := filepath.Join(dir, "empty_known_hosts")
	os.WriteFile(empty, nil, 0o600)
	notADir := filepath.Join(dir, "file")
	os.WriteFile(notADir, nil, 0o600)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	for _, c := range []struct {
		name   string
		change map[string]any
		want   []string
		kind   executors.ErrorKind
	}{
		{"unknown host key", map[string]any{"known_hosts": empty}, []string{"host key of 127.0.0.1:", "is unknown", empty, "refusing to connect"}, executors.ErrorSettings},
		{"changed host key", map[string]any{"known_hosts": changed, "accept_new_host_keys": true}, []string{"has CHANGED", "refusing to connect"}, executors.ErrorSettings},
		{"missing known_hosts", map[string]any{"known_hosts": filepath.Join(dir, "nope")}, []string{"known_hosts file", "does not exist"}, executors.ErrorSettings},
		{"wrong key", map[string]any{"key_file": otherKey}, []string{"refused the keys offered for user " + srv.User, otherKey}, executors.ErrorSettings},
		{"unreachable host", map[string]any{"port": closedPort, "connect_attempts": 1}, []string{"connecting to 127.0.0.1:", "connection refused"}, executors.ErrorCrash},
		{"remote dir not writable", map[string]any{"remote_dir": notADir + "/sub"}, []string{"remote directory " + notADir + "/sub", "is not usable", "Not a directory"}, executors.ErrorSettings},
	} {
		t.Run(c.name, func(t *testing.T) {
			table := settings(t, srv)
			for k, v := range c.change {
				table[k] = v
			}
			e := newExecutor(t, table)
			defer e.Close()
			oc := outcome(t, e.Submit, countTask(t, 0, filepath.Join(t.TempDir(), "count"), ""))
			for _, w := range c.want {
				if !strings.Contains(oc.Error, w) {
					t.Fatalf("error %q should contain %q", oc.Error, w)
				}
			}
			if oc.ErrorKind != c.kind || oc.Output != nil {
				t.Fatalf("outcome %+v, want kind %s", oc, c.kind)
			}
		})
	}
	t.Run("electron changes the host", func(t *testing.T) {
		e := newExecutor(t, settings(t, srv))
		defer e.Close()
		task := countTask(t, 0, filepath.Join(t.TempDir(), "count"), "")
		task.Settings = map[string]json.RawMessage{"host": json.RawMessage(`"example.com"`)}
		if oc := outcome(t, e.Submit, task); !strings.Contains(oc.Error, "an electron cannot change the executor's settings") || oc.ErrorKind != executors.ErrorSettings {
			t.Fatalf("%+v", oc)
		}
	})
	t.Run("misspelt setting", func(t *testing.T) {
		table := settings(t, srv)
		table["hots"] = "x"
		if _, err := New("ssh", table, nil); err == nil || !strings.Contains(err.Error(), `unknown field "hots"`) {
			t.Fatalf("New: %v", err)
		}
	})
	t.Run("no host", func(t *testing.T) {
		e := newExecutor(t, nil)
		defer e.Close()
		if oc := outcome(t, e.Submit, countTask(t, 0, "x", "")); !strings.Contains(oc.Error, `executor ssh needs the "host" setting`) {
			t.Fatalf("%+v", oc)
		}
	})
}

// A jump host, an ssh-agent holding the key, and a host key accepted on first use (accept_new_host_keys) all
// reach the host.
func TestJumpAgentAndAcceptNew(t *testing.T) {
	srv := sshtest.Start(t)
	pem, err := os.ReadFile(srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go agent.ServeAgent(keyring, c)
		}
	}()
	learnt := filepath.Join(t.TempDir(), "known_hosts")
	for _, c := range []struct {
		name   string
		change map[string]any
		env    map[string]string
	}{
		{"jump host", map[string]any{"jump": srv.User + "@" + srv.Addr()}, nil},
		{"agent", map[string]any{"key_file": ""}, map[string]string{"SSH_AUTH_SOCK": sock, "HOME": t.TempDir()}},
		{"accept new host key", map[string]any{"known_hosts": learnt, "accept_new_host_keys": true}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			table := settings(t, srv)
			for k, v := range c.change {
				table[k] = v
			}
			e := newExecutor(t, table)
			defer e.Close()
			counter := filepath.Join(t.TempDir(), "count")
			if oc := outcome(t, e.Submit, countTask(t, 0, counter, "")); executortest.Text(oc.Output) != "1" {
				t.Fatalf("%+v", oc)
			}
		})
	}
	b, err := os.ReadFile(learnt)
	if err != nil || !strings.Contains(string(b), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))) {
		t.Fatalf("known_hosts after accepting a new host key: %q %v", b, err)
	}
}

// A connection that fails while a task runs is dialled again and the task attached to again: it does not run
// twice, and its outcome comes.
func TestReattachAfterConnectionLoss(t *testing.T) {
	srv := sshtest.Start(t)
	e := newExecutor(t, settings(t, srv))
	defer e.Close()
	dir := t.TempDir()
	counter, gate := filepath.Join(dir, "count"), filepath.Join(dir, "gate")
	got := make(chan executors.Outcome, 1)
	e.Submit(countTask(t, 0, counter, gate), func(oc executors.Outcome) { got <- oc })
	wait.For(t, "the task to start on the host", time.Minute, func() bool { return lines(t, counter) == 1 })
	e.pool.mu.Lock()
	for _, c := range e.pool.conns {
		c.client.Close() // as a network failure would
	}
	e.pool.mu.Unlock()
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case oc := <-got:
		if executortest.Text(oc.Output) != "1" || oc.Error != "" {
			t.Fatalf("after the connection was lost: %+v", oc)
		}
	case <-time.After(time.Minute):
		t.Fatal("no outcome after the connection was lost")
	}
	if n := lines(t, counter); n != 1 {
		t.Fatalf("the task ran %d times", n)
	}
}

// Settings are read as people write them for ssh: user@host:port, and ~ for the home directory.
func TestSettingsAsWrittenForSSH(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
	if _, err := sshtest.WriteKey(filepath.Join(home, ".ssh/key")); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(t, map[string]any{"host": "me@example.com:2222", "platform": "none", "key_file": "~/.ssh/key", "known_hosts": "~/kh", "remote_dir": "~/gv"})
	defer e.Close()
	want := Settings{Login: Login{Host: "example.com", Port: 2222, User: "me", KeyFile: filepath.Join(home, ".ssh/key"), KnownHosts: filepath.Join(home, "kh")}, RemoteDir: "gv"}
	got := e.s
	if got.Host != want.Host || got.Port != want.Port || got.User != want.User || got.KeyFile != want.KeyFile || got.KnownHosts != want.KnownHosts || got.RemoteDir != want.RemoteDir {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for want, table := range map[string]map[string]any{
		`"me@example.com" names user me, and the user setting is you`:            {"host": "me@example.com", "user": "you"},
		`"example.com:2222": its port does not agree with the port setting (22)`: {"host": "example.com:2222", "port": 22},
	} {
		if _, err := New("ssh", table, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: %v, want %q", table, err, want)
		}
	}
}

// killedDispatcherEnv makes the test binary a dispatcher that submits one task (given as JSON, with the
// executor's table, in the variable) and waits to be killed.
const killedDispatcherEnv = "GOVALENT_SSH_TEST_KILLED_DISPATCHER"

type killedDispatcherJob struct {
	Table map[string]any  `json:"table"`
	Task  *executors.Task `json:"task"`
}

func killedDispatcher() {
	var job killedDispatcherJob
	if err := json.Unmarshal([]byte(os.Getenv(killedDispatcherEnv)), &job); err != nil {
		panic(err)
	}
	job.Task.Program = program // not in the task's JSON
	e, err := New("ssh", job.Table, nil)
	if err != nil {
		panic(err)
	}
	e.Submit(job.Task, func(oc executors.Outcome) { fmt.Fprintf(os.Stderr, "outcome before the kill: %+v\n", oc); os.Exit(3) })
	select {}
}

// A dispatcher process killed with SIGKILL while its task runs on the host (its connection dropped, nothing
// closed) leaves the task running; the next dispatcher adopts it, and it runs once.
func TestAdoptAfterSIGKILL(t *testing.T) {
	srv := sshtest.Start(t)
	table := settings(t, srv)
	dir := t.TempDir()
	counter, gate := filepath.Join(dir, "count"), filepath.Join(dir, "gate")
	job, err := json.Marshal(killedDispatcherJob{Table: table, Task: countTask(t, 0, counter, gate)})
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(self)
	child.Env = append(os.Environ(), killedDispatcherEnv+"="+string(job))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the task to start on the host", time.Minute, func() bool { return lines(t, counter) == 1 })
	child.Process.Kill()
	if err := child.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the dispatcher process: %v, want killed", err)
	}

	e := newExecutor(t, table)
	defer e.Close()
	adopted := make(chan executors.Outcome, 1)
	e.Adopt(countTask(t, 0, counter, gate), func(oc executors.Outcome) { adopted <- oc })
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case oc := <-adopted:
		if executortest.Text(oc.Output) != "1" || oc.Error != "" {
			t.Fatalf("the adopted task: %+v", oc)
		}
	case <-time.After(time.Minute):
		t.Fatal("the adopted task's outcome never came")
	}
	if n := lines(t, counter); n != 1 {
		t.Fatalf("the task ran %d times, want once", n)
	}
}

// A host of another platform (its uname says so) is detected: the dispatcher is told to build for it, and a task
// with no native worker for it fails saying what to set, since the dispatcher's own binary cannot run there.
func TestHostOfAnotherPlatform(t *testing.T) {
	fake := t.TempDir()
	uname := "#!/bin/sh\ncase \"$1\" in -s) echo Linux;; -m) echo riscv64;; esac\n"
	if err := os.WriteFile(filepath.Join(fake, "uname"), []byte(uname), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := sshtest.StartWith(t, sshtest.Options{Env: map[string]string{"PATH": fake + ":/usr/local/bin:/usr/bin:/bin"}})
	table := settings(t, srv)
	delete(table, "govalent_binary")
	e := newExecutor(t, table)
	defer e.Close()
	if got := e.NativePlatforms(); len(got) != 1 || got[0] != "linux/riscv64" {
		t.Fatalf("NativePlatforms: %v", got)
	}
	oc := outcome(t, e.Submit, countTask(t, 0, filepath.Join(t.TempDir(), "count"), ""))
	if !strings.Contains(oc.Error, "is linux/riscv64 and this dispatcher runs on "+executors.Platform) ||
		!strings.Contains(oc.Error, "set govalent_binary in [executors.ssh]") || oc.ErrorKind != executors.ErrorSettings {
		t.Fatalf("%+v", oc)
	}
}
