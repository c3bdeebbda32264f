package slurm_test

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/executors/slurm"
	"github.com/govalent/govalent/internal/testkit/slurmtest"
)

var (
	cluster *slurmtest.Cluster
	runner  string // the binary the jobs run (slurmtest.BuildRunner)
)

func TestMain(m *testing.M) { slurmtest.Main(m, &cluster, &runner) }

// newExecutor makes a slurm executor on the test cluster with a fresh shared directory and settings over the
// tests' defaults (quick polls, the test runner); the jobs it leaves are cancelled when the test ends.
func newExecutor(t *testing.T, settings map[string]any) *slurm.Executor {
	t.Helper()
	cfg := map[string]any{"dir": t.TempDir(), "runner": runner, "poll": "50ms", "max_poll": "500ms"}
	for k, v := range settings {
		cfg[k] = v
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := slurm.New("slurm", cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		if err := cluster.CancelAll(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// The node has two CPUs and each job takes one: two held tasks fill it and a third waits in Slurm's queue.
func TestConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executors.Executor { return newExecutor(t, nil) },
		executortest.Options{Capacity: 2, Wait: time.Minute})
}
