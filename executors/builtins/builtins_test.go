package builtins_test

import (
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govalent/govalent/executors/builtins"
)

func newExecutors(t *testing.T, settings map[string]map[string]any) error {
	t.Helper()
	execs, err := builtins.New(builtins.Config{Workers: 1, WorkerCommand: []string{"true"}, Settings: settings,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, ex := range execs {
		ex.Close()
	}
	return err
}

// A config table with a "plugin" key starts that executor plugin under the table's name; a table that names
// no executor and no plugin is a mistake said at start, not ignored.
func TestExecutorTablesNameBuiltinsOrPlugins(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "envpool")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/plugin").CombinedOutput(); err != nil {
		t.Fatalf("building the example plugin: %v\n%s", err, out)
	}
	execs, err := builtins.New(builtins.Config{Workers: 1, WorkerCommand: []string{"true"},
		Settings: map[string]map[string]any{"gpu0": {"plugin": bin, "workers": 1, "env": map[string]any{"CUDA_VISIBLE_DEVICES": "0"}}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, ex := range execs {
			ex.Close()
		}
	}()
	if execs["gpu0"] == nil || execs["gpu0"].Stats().Name != "gpu0" {
		t.Fatalf("the plugin executor: %v", execs["gpu0"])
	}
	if err := newExecutors(t, map[string]map[string]any{"poool": {"workers": 2}}); err == nil || !strings.Contains(err.Error(), `[executors.poool]: no executor is called poool`) {
		t.Fatalf("a table naming no executor: %v", err)
	}
}
