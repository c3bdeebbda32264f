package kernel_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govalent/govalent/internal/testkit/workerbin"
	"github.com/govalent/govalent/kernel"
)

var binary string

// TestMain is also the evaluator of the kernels the tests run in-process (see startTestKernel): this test
// binary started again, with kernel.TestEvaluatorEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(kernel.TestEvaluatorEnv) == "1" {
		if err := kernel.RunEvaluator(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	workerbin.Main(m, &binary)
}

// jupyterEnv installs the kernelspec under a temporary prefix and returns an environment in which Jupyter's
// own clients find it.
func jupyterEnv(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/jupyter"); err != nil {
		t.Fatal("Jupyter is not installed: run `make deps` (install/test-deps.sh)")
	}
	prefix := t.TempDir()
	out, err := exec.Command(binary, "kernel", "install", "--prefix", prefix).CombinedOutput()
	if err != nil {
		t.Fatalf("kernel install: %v\n%s", err, out)
	}
	home := t.TempDir()
	// the kernels' session modules in a cache of the test's own, but Go's build cache and the evaluators are
	// the user's (warm)
	goCache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	evaluators := os.Getenv("GOVALENT_EVALUATOR_CACHE")
	if userCache, err := os.UserCacheDir(); evaluators == "" && err == nil {
		evaluators = filepath.Join(userCache, "govalent", "evaluators")
	}
	return append(os.Environ(),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"GOCACHE="+strings.TrimSpace(string(goCache)),
		"GOVALENT_EVALUATOR_CACHE="+evaluators,
		"JUPYTER_PATH="+filepath.Join(prefix, "share", "jupyter"),
		"JUPYTER_DATA_DIR="+filepath.Join(home, "data"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(home, "runtime"),
		"JUPYTER_CONFIG_DIR="+filepath.Join(home, "config"),
		"IPYTHONDIR="+filepath.Join(home, "ipython"),
		"JUPYTER_PLATFORM_DIRS=1",
	)
}

// The Jupyter kernel conformance suite, from Debian's python3-jupyter-kernel-test, run with Debian's python.
func TestJupyterKernelConformance(t *testing.T) {
	env := jupyterEnv(t)
	cmd := exec.Command("/usr/bin/python3", "testdata/conformance.py")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("conformance suite failed: %v", err)
	}
	if strings.Contains(string(out), "skipped") && !strings.Contains(string(out), "skipped=0") {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "skipped") {
				t.Errorf("a conformance test was skipped: %s", line)
			}
		}
	}
}
