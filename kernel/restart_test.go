package kernel_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govalent/govalent/kernel"
)

// Jupyter restarts a kernel, gracefully or by killing it, by starting another with the same connection file: the
// session's modules stay (as pip's packages do for IPython), at the versions chosen, its variables go; a
// shutdown that is no restart deletes them.
func TestRestartKeepsTheSessionModules(t *testing.T) {
	kernel.ModuleEnv(t)
	cache := t.TempDir()
	env := append(jupyterEnv(t), "XDG_CACHE_HOME="+cache)
	const use = "import (\"fmt\"; \"example.org/greet\")\nfmt.Println(greet.Hello(\"again\"))"
	steps := []map[string]any{
		{"cell": "%go get example.org/greet@v1.2.0"},
		{"cell": "import (\"fmt\"; \"example.org/greet\")\nx := 7\nfmt.Println(greet.Hello(\"go\"), x)"},
		{"restart": "graceful"},
		{"cell": "%go mod"},
		{"cell": "x"},
		{"cell": use},
		{"restart": "kill"},
		{"cell": "%go mod"},
		{"cell": use},
		{"shutdown": true},
	}
	arg, _ := json.Marshal(steps)
	cmd := exec.Command("/usr/bin/python3", "testdata/restart.py", string(arg))
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	type cell struct{ Cell, Status, Out string }
	var cells []cell
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var c cell
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		t.Logf("%q: %s %q", c.Cell, c.Status, c.Out)
		cells = append(cells, c)
	}
	if len(cells) != 7 {
		t.Fatalf("%d cells ran, want 7", len(cells))
	}
	want := func(i int, status, out string) {
		t.Helper()
		if cells[i].Status != status || !strings.Contains(cells[i].Out, out) {
			t.Errorf("%q: %s %q; want %s with %q", cells[i].Cell, cells[i].Status, cells[i].Out, status, out)
		}
	}
	want(1, "ok", "hello, GO 7")
	for _, i := range []int{2, 5} {
		want(i, "ok", "require example.org/greet v1.2.0")
	}
	want(3, "error", "undefined: x")
	for _, i := range []int{4, 6} {
		want(i, "ok", "hello, AGAIN")
		if strings.Contains(cells[i].Out, "added") || strings.Contains(cells[i].Out, "an evaluator") {
			t.Errorf("after a restart, the module was got or the evaluator built again: %q", cells[i].Out)
		}
	}
	sessions, err := os.ReadDir(filepath.Join(cache, "govalent", "sessions"))
	if err != nil || len(sessions) != 0 {
		t.Errorf("after the shutdown, the sessions directory holds %v (%v)", sessions, err)
	}
}
