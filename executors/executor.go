// Package executors is the contract between the dispatcher and the executors that run its tasks: Executor,
// Task, Outcome, executor settings and run-time estimates. It depends on little beyond the standard library
// (the transport graph's types come from ct/wire), so that an executor, the dispatcher and tests can share it
// without pulling in each other's dependencies.
//
// An Executor takes tasks from the dispatcher's scheduler and reports each outcome exactly once. The
// implementations live in their own packages: executors/process (worker processes on this machine: "pool" and
// "local"), executors/redisq (the Redis worker pool), executors/aws (AWS Batch and Lambda) and
// executors/circuit (quantum circuits: "qsim" and "braket"); executors/builtins builds the set the dispatcher
// starts with.
package executors

import (
	"context"
	"encoding/json"
	"runtime"
	"time"

	"github.com/govalent/govalent/ct/wire"
)

// The kinds of task (Task.Kind). Electrons and sublattices are the graph's node kinds; a chunk is the Redis
// pool's batch of electron tasks (its Args are the member tasks), which only its workers see.
const (
	KindElectron                 = wire.KindElectron   // run the electron's code; the output is its result
	KindSublattice               = wire.KindSublattice // run the lattice's code to build the child graph (Outcome.Graph)
	KindChunk      wire.NodeKind = "chunk"
)

// Task is one attempt at running a node.
type Task struct {
	ID          string        `json:"id"` // unique per attempt
	DispatchID  string        `json:"dispatch_id"`
	NodeID      int           `json:"node_id"`
	Kind        wire.NodeKind `json:"kind"` // KindElectron, KindSublattice or KindChunk
	Entry       string        `json:"entry"`
	ProgramHash string        `json:"program_hash"`
	Program     string        `json:"-"` // source, sent to a worker process only once
	// Binaries are the program's native worker binaries (package native) that the dispatcher built, by
	// platform ("linux/amd64"): an electron task runs compiled where its worker's platform has one, and
	// interpreted elsewhere.
	Binaries  map[string]Binary `json:"binaries,omitempty"`
	Args      [][]byte          `json:"args"` // encoded (ct/codec)
	TimeLimit time.Duration     `json:"time_limit,omitempty"`
	Queue     string            `json:"queue,omitempty"`
	// Settings are the electron's own executor settings (ct.With); the executor's configured ones fill the rest.
	Settings map[string]json.RawMessage `json:"settings,omitempty"`
}

// Binary is a native worker binary: its content's sha256, by which workers on other machines fetch it and
// check what they fetched, and where it is on the dispatcher's machine.
type Binary struct {
	Hash string `json:"hash"`
	Path string `json:"path"`
}

// Platform is this process's platform, as Task.Binaries and NativeRunner name them.
const Platform = runtime.GOOS + "/" + runtime.GOARCH

// Outcome is how a task ended. Exactly one of: Output set (success), Error set (failure), Cancelled.
type Outcome struct {
	Output []byte `json:"output,omitempty"` // encoded (ct/codec)
	Error  string `json:"error,omitempty"`  // the message, which the dispatcher stores as the node's error
	Stack  string `json:"stack,omitempty"`
	// ErrorKind, Retryable and ErrorCell describe Error where the executor knows them, so that they survive
	// the trip between processes with it: what failed, whether running the task again could help, and where
	// in the user's cells ("cell3:5").
	ErrorKind ErrorKind `json:"error_kind,omitempty"`
	Retryable bool      `json:"retryable,omitempty"`
	ErrorCell string    `json:"error_cell,omitempty"`
	Stdout    string    `json:"stdout,omitempty"`
	Stderr    string    `json:"stderr,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Cancelled bool      `json:"cancelled,omitempty"`
	// Unstarted: the task never started because its start-by time (process.Config.StartBy) had passed.
	Unstarted bool `json:"unstarted,omitempty"`
	// Graph and Program are a sublattice's child workflow.
	Graph   *wire.Graph   `json:"graph,omitempty"`
	Program *wire.Program `json:"program,omitempty"`
}

// ErrorKind says what an Outcome's Error is.
type ErrorKind string

const (
	ErrorUser      ErrorKind = "user"       // the electron returned an error or panicked
	ErrorCrash     ErrorKind = "crash"      // the process running it died or misbehaved (os.Exit, a crash)
	ErrorTimeLimit ErrorKind = "time_limit" // it ran past Task.TimeLimit
	ErrorSettings  ErrorKind = "settings"   // its executor settings are wrong: running it again cannot help
)

// Executor runs tasks.
type Executor interface {
	// Submit queues t and returns at once; done is called exactly once, from any goroutine, with the outcome.
	Submit(t *Task, done func(Outcome))
	// Cancel stops a queued or running task; its done still gets called, with Cancelled set.
	Cancel(taskID string)
	// Stats describes the executor's workers and queue, for status pages.
	Stats() Stats
	// Close stops every worker; outcomes of unfinished tasks are not reported.
	Close() error
}

// Adopter is implemented by executors whose tasks outlive the dispatcher (on a remote host, on a cluster). After
// a restart, the engine hands such an executor each unfinished node of a resumed dispatch through Adopt rather
// than Submit, once: a task of that node from before the restart may still be running there, or have finished.
type Adopter interface {
	// Adopt is Submit for a node that may have a task from before the restart. When the executor finds the
	// latest such task of t's node (the same DispatchID and NodeID), it reports that task's outcome as t's once
	// it has one, and Cancel(t.ID) stops that task; when it finds none, it runs t.
	Adopt(t *Task, done func(Outcome))
}

// NativeRunner is implemented by executors that run electrons from a program's native worker binary
// (Task.Binaries) when the dispatcher gives them one, on the platforms they name ("linux/amd64", GOOS/GOARCH);
// the dispatcher builds binaries for the executors that do.
type NativeRunner interface {
	NativePlatforms() []string
}

// Stats is an executor's load.
type Stats struct {
	Name    string `json:"name"`
	Workers int    `json:"workers"`
	Busy    int    `json:"busy"`
	Queued  int    `json:"queued"`
	Done    int64  `json:"done"`
	// Recovered counts tasks queued again because the lease of the worker holding them expired (pools of
	// remote workers).
	Recovered int64 `json:"recovered,omitempty"`
}

// WorkerInfo describes a live remote worker.
type WorkerInfo struct {
	ID            string    `json:"id"`
	Host          string    `json:"host"`
	PID           int       `json:"pid"`
	Concurrency   int       `json:"concurrency"`
	Platform      string    `json:"platform,omitempty"` // GOOS/GOARCH, as Platform; "" from workers older than the native tier
	Queues        []string  `json:"queues"`
	Running       []string  `json:"running"`        // task ids
	LastHeartbeat time.Time `json:"last_heartbeat"` // server time; set by Heartbeat, ignored on input
}

// RemoteWorkers is implemented by executors whose workers run elsewhere and take tasks from named queues; status pages
// show what it reports.
type RemoteWorkers interface {
	Workers(ctx context.Context) ([]WorkerInfo, error)
	Depths(ctx context.Context) (queues map[string]int64, leased int64, err error)
}
