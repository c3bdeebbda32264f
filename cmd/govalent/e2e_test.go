package main

// End-to-end tests of the govalent binary: the CLI, `govalent run`, and a dispatcher killed with SIGKILL in
// the middle of a workflow.

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/internal/testkit/workerbin"
	"github.com/govalent/govalent/interp"
)

var binary string

func TestMain(m *testing.M) { workerbin.Main(m, &binary) }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// govalent runs the binary with a clean configuration and returns its combined output.
func govalent(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "GOVALENT_CONFIG="+filepath.Join(t.TempDir(), "none.toml")), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestRunExampleEmbedded(t *testing.T) {
	out, err := govalent(t, nil, "run", "--embedded", "../../examples/pipeline.go")
	if err != nil || !strings.Contains(out, "COMPLETED 770") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

// The embedded dispatcher takes the same settings as `govalent start` (here: where values over the inline limit
// go), but keeps its database in its own data directory, never a running dispatcher's.
func TestRunEmbeddedHonoursSettings(t *testing.T) {
	out, err := govalent(t, []string{"GOVALENT_OBJECT_STORE=ftp://elsewhere/objects"}, "run", "--embedded", "../../examples/pipeline.go")
	if err == nil || !strings.Contains(out, "ftp://elsewhere/objects") {
		t.Fatalf("the object store setting was not used: err %v, output:\n%s", err, out)
	}
	db := filepath.Join(t.TempDir(), "daemon.db")
	out, err = govalent(t, []string{"GOVALENT_DB=" + db}, "run", "--embedded", "../../examples/pipeline.go")
	if err != nil || !strings.Contains(out, "COMPLETED 770") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("the embedded dispatcher opened the database of the settings")
	}
}

func TestRunReportsCellErrorsAndExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.go")
	os.WriteFile(bad, []byte("x := 1\n\nfunc F() int {\n\treturn y\n}\n"), 0o644)
	out, err := govalent(t, nil, "run", bad)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "bad.go:4:9: undefined: y") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	panicky := filepath.Join(dir, "panicky.go")
	os.WriteFile(panicky, []byte("import \"errors\"\npanic(errors.New(\"nope\"))\n"), 0o644)
	out, err = govalent(t, nil, "run", panicky)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "panicky.go:2:7: panic: nope") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	out, err = govalent(t, []string{"GOVALENT_DISPATCHER=http://127.0.0.1:1"}, "run", "../../examples/pipeline.go")
	if err == nil || !strings.Contains(out, "no govalent dispatcher answers") || !strings.Contains(out, "govalent start") {
		t.Fatalf("without a dispatcher: err %v, output:\n%s", err, out)
	}
}

func TestDaemonAndClientCommands(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	flags := []string{"--data-dir", dir, "--port", strconv.Itoa(port)}
	env := []string{"GOVALENT_DISPATCHER=http://127.0.0.1:" + strconv.Itoa(port)}
	out, err := govalent(t, nil, append([]string{"start"}, flags...)...)
	if err != nil || !strings.Contains(out, "started at") {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { govalent(t, nil, append([]string{"stop"}, flags...)...) })
	if out, _ := govalent(t, nil, append([]string{"start"}, flags...)...); !strings.Contains(out, "already running") {
		t.Fatalf("second start: %s", out)
	}
	if out, err := govalent(t, env, "run", "../../examples/pipeline.go"); err != nil || !strings.Contains(out, "COMPLETED 770") {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, err = govalent(t, nil, append([]string{"list"}, flags...)...)
	if err != nil || !strings.Contains(out, "COMPLETED") || !strings.Contains(out, "1 of 1") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	out, err = govalent(t, nil, append([]string{"result", id, "--json"}, flags...)...)
	var res ct.Result
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || string(res.RawResult) != "770" || res.EncodedResult != nil || len(res.Nodes) != 23 {
		t.Fatalf("result --json: %v\n%s", err, out)
	}
	if out, err = govalent(t, nil, append([]string{"result", id}, flags...)...); err != nil || !strings.Contains(out, "result: 770") {
		t.Fatalf("result: %v\n%s", err, out)
	}
	if waited, err := govalent(t, nil, append([]string{"result", id, "--wait"}, flags...)...); err != nil || waited != out {
		t.Fatalf("result --wait: %v\n%s\nwant what result printed:\n%s", err, waited, out)
	}
	for _, args := range [][]string{{"result", "nope"}, {"result", "nope", "--wait"}} {
		if out, err = govalent(t, nil, append(args, flags...)...); err == nil || !strings.Contains(out, "not found") {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if out, err = govalent(t, nil, append([]string{"status"}, flags...)...); err != nil || !strings.Contains(out, "running") || !strings.Contains(out, "pool") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if out, err = govalent(t, nil, append([]string{"logs"}, flags...)...); err != nil || !strings.Contains(out, "dispatcher listening") {
		t.Fatalf("logs: %v\n%s", err, out)
	}
	if out, err = govalent(t, nil, append([]string{"stop"}, flags...)...); err != nil || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	out, err = govalent(t, nil, append([]string{"status"}, flags...)...)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(out, "not running") {
		t.Fatalf("status after stop: %v\n%s", err, out)
	}
}

// The dispatcher always wants a credential. Started with none, it makes a token that only its owner can read,
// which the owner's CLI finds; another user's requests get 401. A token given on the command line does not
// stay on the daemon's command line, where ps shows it to everyone. The data directory is the owner's only.
func TestCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	tokenFile := filepath.Join(t.TempDir(), "token")
	env := []string{"GOVALENT_TOKEN_FILE=" + tokenFile}
	flags := []string{"--data-dir", dir, "--port", strconv.Itoa(port)}
	out, err := govalent(t, env, append([]string{"start"}, flags...)...)
	if err != nil || !strings.Contains(out, url+"/login?code=") {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { govalent(t, env, append([]string{"stop"}, flags...)...) })
	for path, mode := range map[string]os.FileMode{tokenFile: 0o600, dir: 0o700 | os.ModeDir, filepath.Join(dir, "govalent.log"): 0o600, filepath.Join(dir, "govalent.pid"): 0o600,
		filepath.Join(dir, "govalent.db"): 0o600, filepath.Join(dir, "govalent.db-wal"): 0o600, filepath.Join(dir, "objects"): 0o700 | os.ModeDir} {
		if st, err := os.Stat(path); err != nil || st.Mode() != mode {
			t.Errorf("%s: %v %v, want %v", path, st.Mode(), err, mode)
		}
	}
	if out, err := govalent(t, env, append([]string{"list"}, flags...)...); err != nil || !strings.Contains(out, "0 of 0") {
		t.Fatalf("the owner's CLI: %v\n%s", err, out)
	}
	if out, err := govalent(t, env, append([]string{"login-link"}, flags...)...); err != nil || !strings.Contains(out, url+"/login?code=") {
		t.Fatalf("login-link: %v\n%s", err, out)
	}
	if out, err := govalent(t, []string{"GOVALENT_TOKEN_FILE=" + filepath.Join(t.TempDir(), "none")}, append([]string{"list"}, flags...)...); err == nil || !strings.Contains(out, "401") && !strings.Contains(out, "token") {
		t.Fatalf("a client without the token: %v\n%s", err, out)
	}
	if os.Geteuid() == 0 {
		// Another local user, with the same environment, cannot read the token and is refused.
		shared, err := os.MkdirTemp("", "govalent-shared-*")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(shared)
		exe := filepath.Join(shared, "govalent")
		data, _ := os.ReadFile(binary)
		if err := os.WriteFile(exe, data, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(shared, 0o755)
		for _, args := range [][]string{{exe, "list", "--dispatcher", url}, {"cat", tokenFile}} {
			cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--"}, args...)...)
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "401") && !strings.Contains(string(out), "ermission denied") {
				t.Fatalf("user nobody ran %v: %v\n%s", args, err, out)
			}
			t.Logf("user nobody, %s: %s", args[0], strings.TrimSpace(string(out)))
		}
	} else {
		t.Log("not root: the other-user check (setpriv) needs root; CI runs as root")
	}
	govalent(t, env, append([]string{"stop"}, flags...)...)

	// A token given on the command line reaches the daemon by its environment.
	secret := "cli-s3cret-token"
	out, err = govalent(t, env, append([]string{"start", "--token", secret}, flags...)...)
	if err != nil {
		t.Fatalf("start --token: %v\n%s", err, out)
	}
	pid, _ := os.ReadFile(filepath.Join(dir, "govalent.pid"))
	cmdline, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/cmdline")
	if err != nil || strings.Contains(string(cmdline), secret) || !strings.Contains(string(cmdline), "--foreground") {
		t.Fatalf("the daemon's command line: %q %v", cmdline, err)
	}
	if out, err := govalent(t, env, append([]string{"list"}, flags...)...); err == nil {
		t.Fatalf("the file's token where another is configured: %s", out)
	}
	if out, err := govalent(t, append(env, "GOVALENT_TOKEN="+secret), append([]string{"list"}, flags...)...); err != nil {
		t.Fatalf("the configured token: %v\n%s", err, out)
	}
}

// startForeground starts a dispatcher process and waits until it answers.
func startForeground(t *testing.T, dir string, port int, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"start", "--foreground", "--data-dir", dir, "--port", strconv.Itoa(port), "--workers", "2"}, extra...)...)
	cmd.Env = append(os.Environ(), "GOVALENT_CONFIG="+filepath.Join(dir, "config.toml")) // none, unless the test writes one
	logf, _ := os.OpenFile(filepath.Join(dir, "test.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := ct.NewClient("http://127.0.0.1:" + strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st map[string]any
		err := c.Status(&st)
		if err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "test.log"))
			t.Fatalf("dispatcher did not start (%v); its log:\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill -9 the dispatcher mid-workflow, start it again: the workflow resumes and completes, and no node that
// was COMPLETED before the kill runs again.
func TestDispatcherSIGKILLResumesWithoutRerunningCompletedNodes(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	runs := filepath.Join(dir, "runs")
	first := startForeground(t, dir, port)

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
	fmt.Fprintln(f, i)
	f.Close()
	time.Sleep(400 * time.Millisecond)
	return i * i
}
func Sum(xs []int) int { t := 0; for _, x := range xs { t += x }; return t }
var work = ct.Electron(Work)
var sum = ct.Electron(Sum)
var fan = ct.Lattice(func(n int) ct.Future {
	var parts []ct.Future
	for i := 0; i < n; i++ { parts = append(parts, work(i)) }
	return sum(parts)
})
id, err := ct.Dispatch(fan, 12)
if err != nil { panic(err) }`)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.Eval(context.Background(), "id")
	id := v.Value.Interface().(string)
	client := ct.NewClient(url)

	var before *ct.Result
	deadline := time.Now().Add(30 * time.Second)
	for {
		before, err = client.GetResult(id, false)
		if err == nil && countStatus(before, ct.StatusCompleted) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v %v", before, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	completedBefore := map[int]bool{}
	for _, n := range before.Nodes {
		if n.Status == ct.StatusCompleted {
			completedBefore[n.NodeID] = true
		}
	}

	startForeground(t, dir, port)
	res, err := client.GetResult(id, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ct.StatusCompleted || res.Result != 506 { // sum of i*i for i < 12
		t.Fatalf("after restart: %s %v %s", res.Status, res.Result, res.Error)
	}
	data, _ := os.ReadFile(runs)
	count := map[int]int{}
	for _, line := range strings.Fields(string(data)) {
		i, _ := strconv.Atoi(line)
		count[i]++
	}
	for i := 0; i < 12; i++ {
		if count[i] == 0 {
			t.Errorf("node %d never ran", i)
		}
		if completedBefore[i] && count[i] != 1 {
			t.Errorf("node %d was COMPLETED before the kill but ran %d times", i, count[i])
		}
	}
	t.Logf("completed before the kill: %d of 12; runs per node: %v", len(completedBefore), count)
	if len(completedBefore) == 12 {
		t.Fatal("the kill came too late to test anything")
	}
}

func countStatus(r *ct.Result, s ct.Status) int {
	n := 0
	for _, node := range r.Nodes {
		if node.Status == s {
			n++
		}
	}
	return n
}
