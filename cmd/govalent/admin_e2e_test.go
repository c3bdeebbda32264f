package main

// The administration commands: service, restart, purge, config and completion.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/BurntSushi/toml"
)

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// `service install --root` writes the units under the root and starts nothing; uninstall removes them.
func TestServiceCommand(t *testing.T) {
	root, home := t.TempDir(), "/home/ann"
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME="}
	self, err := filepath.EvalSymlinks(binary)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(root, home, ".config/systemd/user/govalent.service")
	out, err := govalent(t, env, "service", "install", "--root", root)
	if err != nil || !strings.Contains(out, "wrote "+unit) || strings.Contains(out, "systemctl") {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(unit); err != nil || !strings.Contains(string(b), "\nExecStart="+self+" start --foreground\n") {
		t.Fatalf("unit: %v\n%s", err, b)
	}
	out, err = govalent(t, env, "service", "install", "--system", "--worker", "--redis", "redis://:pw@h:6379/0", "--root", root)
	worker := filepath.Join(root, "/etc/systemd/system/govalent-worker@.service")
	if err != nil || !strings.Contains(out, "wrote "+worker) || !strings.Contains(out, "/etc/govalent/redis.key") {
		t.Fatalf("install --system --worker: %v\n%s", err, out)
	}
	if out, err := govalent(t, env, "service", "install", "--worker", "--root", root); exitCode(err) != 1 || !strings.Contains(out, "--redis") {
		t.Fatalf("a worker without Redis: %v\n%s", err, out)
	}
	if out, err := govalent(t, env, "service", "reinstall"); exitCode(err) != 2 || !strings.Contains(out, "usage: govalent service install|uninstall") {
		t.Fatalf("an unknown action: %v\n%s", err, out)
	}
	if out, err := govalent(t, env, "service", "-h"); err != nil || !strings.Contains(out, "-run-as") {
		t.Fatalf("-h: %v\n%s", err, out)
	}
	out, err = govalent(t, env, "service", "uninstall", "--system", "--root", root)
	if err != nil || !strings.Contains(out, "removed "+worker) || !strings.Contains(out, "removed "+filepath.Join(root, "/etc/govalent/worker.env")) {
		t.Fatalf("uninstall --system: %v\n%s", err, out)
	}
	if out, err = govalent(t, env, "service", "uninstall", "--root", root); err != nil || !strings.Contains(out, "removed "+unit) {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left behind: %s", path)
		}
		return err
	})
}

// A dispatcher started by systemd says so in `govalent status`, logs to the journal without its own time
// stamps, and `stop` and `restart` send the user to systemctl instead of fighting the manager.
func TestDispatcherUnderSystemd(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "test.log") // the dispatcher's stderr, standing for the journal
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(log, &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INVOCATION_ID", "5e0c")
	t.Setenv("GOVALENT_SERVICE", "govalent.service")
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	port := freePort(t)
	startForeground(t, dir, port)
	flags := []string{"--data-dir", dir, "--port", strconv.Itoa(port)}
	if out, err := govalent(t, nil, append([]string{"status"}, flags...)...); err != nil || !strings.Contains(out, "run by systemd (unit govalent.service)") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, cmd := range []string{"stop", "restart"} {
		if out, err := govalent(t, nil, append([]string{cmd}, flags...)...); exitCode(err) != 1 || !strings.Contains(out, "systemctl [--user] "+cmd+" govalent") {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	if out, err := govalent(t, nil, append([]string{"logs"}, flags...)...); exitCode(err) != 1 || !strings.Contains(out, "journalctl [--user] -u govalent") {
		t.Fatalf("logs: %v\n%s", err, out)
	}
	if out, _ := govalent(t, nil, append([]string{"status"}, flags...)...); !strings.Contains(out, "running") {
		t.Fatalf("stop or restart stopped a dispatcher that systemd runs:\n%s", out)
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "dispatcher listening") || strings.Contains(string(b), "time=") {
		t.Fatalf("the journal's lines:\n%s", b)
	}
}

func TestPurgeAndRestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	flags := []string{"--data-dir", dir, "--port", strconv.Itoa(port)}
	env := []string{"GOVALENT_DISPATCHER=http://127.0.0.1:" + strconv.Itoa(port)}
	if out, err := govalent(t, nil, append([]string{"start"}, flags...)...); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { govalent(t, nil, append([]string{"stop"}, flags...)...) })
	if out, err := govalent(t, env, "run", "../../examples/pipeline.go"); err != nil || !strings.Contains(out, "COMPLETED 770") {
		t.Fatalf("run: %v\n%s", err, out)
	}
	// A value over the store's inline limit, which it keeps as an object in the data directory.
	bigCell := filepath.Join(t.TempDir(), "big.go")
	os.WriteFile(bigCell, []byte(`import ("fmt"; "strings")
var big = ct.Electron(func() string { return strings.Repeat("v", 300000) })
res, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return big() }))
fmt.Println(res.Status)
`), 0o600)
	if out, err := govalent(t, env, "run", bigCell); err != nil || !strings.Contains(out, "COMPLETED") {
		t.Fatalf("run %s: %v\n%s", bigCell, err, out)
	}
	objectFiles := func() []string { files, _ := filepath.Glob(filepath.Join(dir, "objects", "[0-9a-f]*")); return files }
	if len(objectFiles()) == 0 {
		t.Fatal("the large value is not in the object store")
	}
	purge := func(args ...string) (string, error) {
		return govalent(t, nil, append(append([]string{"purge"}, args...), flags...)...)
	}
	if out, err := purge(); exitCode(err) != 2 || !strings.Contains(out, "usage: govalent purge") {
		t.Fatalf("purge without a filter: %v\n%s", err, out)
	}
	if out, err := purge("--before", "last week"); exitCode(err) != 1 || !strings.Contains(out, "want a date") {
		t.Fatalf("purge --before nonsense: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--status", "FAILED"}, {"--before", "1d"}, {"--before", "2000-01-01", "--yes"}} {
		if out, err := purge(args...); err != nil || !strings.Contains(out, "no dispatch to purge") {
			t.Fatalf("purge %v: %v\n%s", args, err, out)
		}
	}
	out, err := purge("--before", "2999-01-01T00:00:00Z")
	if err != nil || !strings.Contains(out, "COMPLETED") || !strings.Contains(out, "2 dispatches would be deleted") {
		t.Fatalf("purge dry run: %v\n%s", err, out)
	}
	if out, _ := govalent(t, nil, append([]string{"list"}, flags...)...); !strings.Contains(out, "2 of 2") {
		t.Fatalf("a dry run deleted:\n%s", out)
	}
	out, err = purge("--status", "COMPLETED", "--before", "0s", "--yes", "--grace", "0s")
	if err != nil || !strings.Contains(out, "deleted 2 dispatches") || !regexp.MustCompile(`removed [1-9]\d* stored values and 2 programs`).MatchString(out) {
		t.Fatalf("purge --yes: %v\n%s", err, out)
	}
	if left := objectFiles(); len(left) != 0 {
		t.Fatalf("objects left after purge: %v", left)
	}
	if out, _ := govalent(t, nil, append([]string{"list"}, flags...)...); !strings.Contains(out, "0 of 0") {
		t.Fatalf("after purge:\n%s", out)
	}

	pid := regexp.MustCompile(`\(pid (\d+),`)
	before, _ := govalent(t, nil, append([]string{"status"}, flags...)...)
	out, err = govalent(t, nil, append([]string{"restart"}, flags...)...)
	if err != nil || !strings.Contains(out, "stopped") || !strings.Contains(out, "started at") {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	after, err := govalent(t, nil, append([]string{"status"}, flags...)...)
	if m, n := pid.FindStringSubmatch(before), pid.FindStringSubmatch(after); err != nil || m == nil || n == nil || m[1] == n[1] {
		t.Fatalf("status before and after restart: %v\n%s\n%s", err, before, after)
	}
	if !strings.Contains(after, "run by no service manager") {
		t.Fatalf("status:\n%s", after)
	}
}

func TestConfigCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "conf", "config.toml")
	os.MkdirAll(filepath.Dir(file), 0o700)
	os.WriteFile(file, []byte("workers = 3\n\n[executors.pool]\nmemory = \"1GiB\"\n"), 0o644)
	env := []string{"GOVALENT_CONFIG=" + file}
	for _, kv := range [][]string{{"port", "1234"}, {"redis", "redis://:hunter2@h:6379/0"}, {"token", "sekrit"}, {"log-level", "warn"}, {"metrics-open", "true"}} {
		if out, err := govalent(t, env, append([]string{"config", "set"}, kv...)...); err != nil || !strings.Contains(out, "set "+tomlKey(kv[0])+" in "+file) {
			t.Fatalf("config set %v: %v\n%s", kv, err, out)
		}
	}
	var m map[string]any
	if _, err := toml.DecodeFile(file, &m); err != nil || m["port"] != int64(1234) || m["workers"] != int64(3) || m["log_level"] != "warn" || m["metrics_open"] != true ||
		m["executors"].(map[string]any)["pool"].(map[string]any)["memory"] != "1GiB" {
		t.Fatalf("the file after config set: %v %#v", err, m)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("the file holds the token and is mode %v", st.Mode())
	}
	for _, kv := range [][]string{{"set", "port", "x"}, {"set", "colour", "blue"}} {
		if out, err := govalent(t, env, append([]string{"config"}, kv...)...); exitCode(err) != 1 {
			t.Fatalf("config %v: %v\n%s", kv, err, out)
		}
	}
	if out, err := govalent(t, env, "config", "set", "port"); exitCode(err) != 2 || !strings.Contains(out, "usage: govalent config") {
		t.Fatalf("config set without a value: %v\n%s", err, out)
	}

	out, err := govalent(t, append(env, "GOVALENT_PORT=2222"), "config", "--log-level", "debug")
	if err != nil {
		t.Fatalf("config: %v\n%s", err, out)
	}
	for _, want := range []string{`port +2222 +env GOVALENT_PORT`, `workers +3 +file ` + regexp.QuoteMeta(file), `log_level +debug +flag --log-level`,
		`host +127\.0\.0\.1 +default`, `token +\(hidden\) +file`, `redis +redis://:xxxxx@h:6379/0 +file`, `executor settings in the file: \[executors\.pool\]`} {
		if !regexp.MustCompile(`(?m)^` + want).MatchString(out) {
			t.Errorf("config shows no line %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sekrit") || strings.Contains(out, "hunter2") {
		t.Fatalf("config shows a secret:\n%s", out)
	}
	if out, err := govalent(t, env, "config", "unset", "token"); err != nil || !strings.Contains(out, "removed token") {
		t.Fatalf("unset: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), "sekrit") || !strings.Contains(string(b), "port = 1234") {
		t.Fatalf("after unset:\n%s", b)
	}
}

// The completion scripts offer the commands, their subcommands and flags, in the shells themselves.
func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	script := func(shell string) string {
		out, err := govalent(t, nil, "completion", shell)
		if err != nil {
			t.Fatalf("completion %s: %v\n%s", shell, err, out)
		}
		path := filepath.Join(dir, shell)
		os.WriteFile(path, []byte(out), 0o644)
		return path
	}
	bash := script("bash")
	for words, want := range map[string]string{"ser": "service", "purge --y": "--yes", "service ": "install uninstall", "worker --conc": "--concurrency"} {
		w := strings.Fields(words)
		if strings.HasSuffix(words, " ") {
			w = append(w, "")
		}
		cmd := exec.Command("bash", "-c", `source "$1"; shift; COMP_WORDS=(govalent "$@"); COMP_CWORD=$#; _govalent; echo "${COMPREPLY[*]}"`, "bash", bash)
		cmd.Args = append(cmd.Args, w...)
		if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("bash completes %q to %q (%v), want %q", words, out, err, want)
		}
	}
	fish := script("fish")
	for line, want := range map[string]string{"govalent resta": "restart\tstop the dispatcher and start it again", "govalent service --ru": "--run-as", "govalent config s": "set"} {
		out, err := exec.Command("fish", "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, fish, line).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("fish completes %q to %q (%v), want %q", line, out, err, want)
		}
	}
	zsh := script("zsh")
	if out, err := exec.Command("zsh", "-n", zsh).CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(zsh); !strings.Contains(string(b), "'purge:delete finished dispatches") || !strings.Contains(string(b), "purge) compadd -- --before") {
		t.Errorf("the zsh script:\n%s", b)
	}
	if out, err := govalent(t, nil, "completion", "tcsh"); exitCode(err) != 2 {
		t.Errorf("completion tcsh: %v\n%s", err, out)
	}
}
