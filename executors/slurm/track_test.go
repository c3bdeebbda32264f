package slurm

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
)

// A job that ended without an outcome fails its task with Slurm's state, what it means, and the end of the
// job's log; a node failure may be retried. (The cluster's own TIMEOUT takes a minute at least to provoke.)
func TestEndedWithoutOutcome(t *testing.T) {
	dir := t.TempDir()
	exe, _ := os.Executable()
	e, err := New("slurm", map[string]any{"dir": dir, "runner": exe}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	log := filepath.Join(dir, "job.log")
	if err := os.WriteFile(log, []byte("slurmstepd: error: *** JOB 7 ON vm CANCELLED AT 2026-11-30T17:00:00 DUE TO TIME LIMIT ***\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		state     jobState
		known     bool
		want      string
		kind      executors.ErrorKind
		retryable bool
	}{
		{jobState{"TIMEOUT", "TimeLimit"}, true, "ended TIMEOUT (TimeLimit) without an outcome: it ran past its --time", executors.ErrorTimeLimit, false},
		{jobState{"OUT_OF_MEMORY", "OutOfMemory"}, true, "ran out of memory (see the memory setting)", executors.ErrorCrash, false},
		{jobState{"NODE_FAIL", "None"}, true, "ended NODE_FAIL without an outcome", executors.ErrorCrash, true},
		{jobState{}, false, "is no longer known to Slurm and left no outcome", executors.ErrorCrash, false},
	} {
		got := make(chan executors.Outcome, 1)
		en := &entry{task: &executors.Task{ID: "x"}, done: func(oc executors.Outcome) { got <- oc }, dir: dir, start: time.Now(), job: "7", log: log}
		if !e.conclude(en, c.state, c.known, executors.Outcome{}, fs.ErrNotExist) {
			t.Fatalf("%v: not concluded", c.state)
		}
		oc := <-got
		if !strings.Contains(oc.Error, c.want) || !strings.Contains(oc.Error, "DUE TO TIME LIMIT") || oc.ErrorKind != c.kind || oc.Retryable != c.retryable {
			t.Fatalf("%v: %+v, want an error containing %q and the log's end, kind %s, retryable %v", c.state, oc, c.want, c.kind, c.retryable)
		}
	}
	// A COMPLETED job's outcome may be late on a network file system: it is waited for.
	en := &entry{task: &executors.Task{ID: "y"}, done: func(executors.Outcome) { t.Error("reported before its outcome came") }, dir: dir, job: "8"}
	if e.conclude(en, jobState{"COMPLETED", "None"}, true, executors.Outcome{}, fs.ErrNotExist) {
		t.Fatal("a COMPLETED job without its outcome yet was concluded at once")
	}
}
