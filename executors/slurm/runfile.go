package slurm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/process"
)

// taskFile is task.json: everything the job needs, with no access to the dispatcher. The program is in a
// file of its own, which the tasks of a program share.
type taskFile struct {
	Task        executors.Task `json:"task"`
	ProgramFile string         `json:"program_file"`
}

// Names of the files in a task's directory.
const (
	taskName    = "task.json"
	outcomeName = "outcome.json"
	batchName   = "batch"  // "BATCH INDEX": the array the task went in, written before sbatch
	latestName  = "latest" // in a node's directory: the directory name of its latest task
)

// RunFile runs the task in the task file at path (written by the slurm executor in its shared directory) in this
// process and writes its outcome, atomically, to outcome.json beside it: what a job runs, as
// `govalent worker --once --task DIR/task.json`. A task's time limit is enforced here to the millisecond, since
// Slurm's --time counts whole minutes: past it the outcome says so and the process exits, which ends the job and
// with it anything the task started.
func RunFile(path string) error {
	if filepath.Base(path) != taskName {
		return fmt.Errorf("task %s: want a %s written by the slurm executor", path, taskName)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var tf taskFile
	if err := json.Unmarshal(data, &tf); err != nil {
		return fmt.Errorf("task %s: %w", path, err)
	}
	program, err := os.ReadFile(tf.ProgramFile)
	if err != nil {
		return fmt.Errorf("task %s: %w", path, err)
	}
	tf.Task.Program = string(program)
	out := filepath.Join(filepath.Dir(path), outcomeName)
	var once sync.Once
	var writeErr error
	write := func(oc executors.Outcome) { once.Do(func() { writeErr = writeJSON(out, oc) }) }
	if limit := tf.Task.TimeLimit; limit > 0 {
		start := time.Now()
		time.AfterFunc(limit, func() {
			write(executors.Outcome{Error: fmt.Sprintf("time limit of %s exceeded", limit), ErrorKind: executors.ErrorTimeLimit,
				Start: start, End: time.Now()})
			if writeErr != nil {
				fmt.Fprintln(os.Stderr, "govalent worker:", writeErr)
				os.Exit(1)
			}
			os.Exit(0)
		})
	}
	oc, err := process.RunOnce(&tf.Task)
	if err != nil {
		return err
	}
	write(oc)
	return writeErr
}

// writeJSON writes v to path atomically: whoever reads path sees all of it or nothing.
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeAtomic(path, data, 0o600)
}

// writeAtomic writes data to a temporary file beside path and renames it into place.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
