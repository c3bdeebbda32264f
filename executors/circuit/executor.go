// Package circuit holds the executors that run quantum circuits: "qsim" (the in-process state-vector simulator
// of package qsim) and "braket" (Amazon Braket quantum tasks). Circuits are written with the SDK's ct/quantum.
//
// A quantum electron runs in two phases. First its Go code runs like any electron, on an inner executor (the
// dispatcher's pool); its output must be a ct/quantum Job or an OpenQASM 3 program as a string. Then the
// executor runs that job and the node's output is the ct/quantum Result. Cancel works in both phases; the
// electron's time limit covers both.
//
// Settings come from the [executors.qsim] / [executors.braket] tables of the config file, overridden per
// electron by ct.With. Shots, seed and observables apply to electrons that return OpenQASM text or a
// *quantum.Circuit (a Job carries its own):
//
//	qsim:   shots (default 1000), seed, observables, max_qubits (default 26: 1.5 GiB of state and
//	        probabilities; ct.With may only lower it); the operator's alone: memory (default "4GiB", what
//	        the simulations of the executor hold at once in the dispatcher's process; see qsim.Budget) and
//	        max_gates (default 262144, after gate definitions are expanded)
//	braket: device_arn (required), s3 (required: s3://bucket/prefix for the task's results), shots (default
//	        1000), observables, region, endpoint (default AWS_ENDPOINT_URL_BRAKET, AWS_ENDPOINT_URL, or the
//	        regional Braket endpoint), poll (first wait between GetQuantumTask calls, default "1s", doubling up
//	        to max_poll, default "20s"), max_qubits (default 128; ct.With may only lower it); the operator's
//	        alone: memory (default "2GiB", what the tasks of the executor hold at once in the dispatcher's
//	        process while their programs are parsed and sent and their results read) and max_gates (default
//	        262144)
package circuit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govalent/govalent/ct/codec"
	qc "github.com/govalent/govalent/ct/quantum"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/circuit/qasm"
	"github.com/govalent/govalent/executors/circuit/qsim"
)

// runFunc runs a job with the merged settings (raw JSON, decoded by the runner).
type runFunc func(ctx context.Context, job qc.Job, settings []byte) (qc.Result, error)

// Runner runs quantum electrons: the electron on an inner executor, then its job.
type Runner struct {
	name     string
	inner    executors.Executor
	defaults executors.Settings
	run      runFunc
	// textJob decodes the settings into the job an electron that returns OpenQASM text (or a circuit) runs:
	// shots, seed and observables from the settings. Its error is the settings' error.
	textJob func(settings []byte) (qc.Job, error)
	log     *slog.Logger
	// operatorOnly are settings of the configuration that an electron may not set.
	operatorOnly []string

	mu     sync.Mutex
	tasks  map[string]*task
	closed bool
	sem    chan struct{} // bounds the jobs running at once
	done   atomic.Int64
	wg     sync.WaitGroup
}

type task struct {
	running   bool // in the second phase
	cancelled bool
	cancel    context.CancelFunc
}

func newExecutor(name string, inner executors.Executor, defaults map[string]any, parallel int, log *slog.Logger) (*Runner, error) {
	if log == nil {
		log = slog.Default()
	}
	settings, err := executors.NewSettings(name, defaults)
	if err != nil {
		return nil, err
	}
	return &Runner{name: name, inner: inner, defaults: settings, log: log.With("executor", name),
		tasks: map[string]*task{}, sem: make(chan struct{}, max(parallel, 1))}, nil
}

// Submit implements executors.Executor.
func (e *Runner) Submit(t *executors.Task, done func(executors.Outcome)) {
	if t.Kind != executors.KindElectron { // a sublattice's graph is built like anywhere else
		e.inner.Submit(t, done)
		return
	}
	start := time.Now()
	settings := e.defaults.Merge(t.Settings)
	// Bad settings fail the node before its code runs.
	if err := e.check(t.Settings, settings); err != nil {
		done(executors.Outcome{Error: err.Error(), ErrorKind: executors.ErrorSettings, Start: start, End: time.Now()})
		return
	}
	e.mu.Lock()
	tk := &task{}
	e.tasks[t.ID] = tk
	e.mu.Unlock()
	e.inner.Submit(t, func(o executors.Outcome) {
		finish := func(o executors.Outcome) {
			e.mu.Lock()
			delete(e.tasks, t.ID)
			closed := e.closed
			e.mu.Unlock()
			e.done.Add(1)
			if !closed {
				done(o)
			}
		}
		if o.Error != "" || o.Cancelled {
			finish(o)
			return
		}
		job, err := e.job(o.Output, settings)
		if err != nil {
			o.Output, o.Error, o.End = nil, err.Error(), time.Now()
			finish(o)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		if t.TimeLimit > 0 { // the limit covers both phases
			cancel()
			ctx, cancel = context.WithDeadline(context.Background(), start.Add(t.TimeLimit))
		}
		e.mu.Lock()
		if tk.cancelled || e.closed {
			e.mu.Unlock()
			cancel()
			finish(executors.Outcome{Cancelled: true, Stdout: o.Stdout, Stderr: o.Stderr, Start: o.Start, End: time.Now()})
			return
		}
		tk.running, tk.cancel = true, cancel
		e.wg.Add(1)
		e.mu.Unlock()
		go func() {
			defer e.wg.Done()
			defer cancel()
			out := executors.Outcome{Stdout: o.Stdout, Stderr: o.Stderr, Start: o.Start}
			res, err := e.runLimited(ctx, job, settings)
			out.End = time.Now()
			e.mu.Lock()
			cancelled := tk.cancelled
			e.mu.Unlock()
			switch {
			case cancelled:
				out.Cancelled = true
			case errors.Is(err, context.DeadlineExceeded):
				out.Error = fmt.Sprintf("time limit of %s exceeded", t.TimeLimit)
			case err != nil:
				out.Error = err.Error()
			default:
				out.Output, err = codec.Marshal(res)
				if err != nil {
					out.Error = fmt.Sprintf("encoding the result: %v", err)
				}
			}
			finish(out)
		}()
	})
}

func (e *Runner) runLimited(ctx context.Context, job qc.Job, settings []byte) (qc.Result, error) {
	select {
	case e.sem <- struct{}{}:
		defer func() { <-e.sem }()
	case <-ctx.Done():
		return qc.Result{}, ctx.Err()
	}
	return e.run(ctx, job, settings)
}

// check refuses the operator's settings in an electron's own, and decodes the merged settings once up front.
func (e *Runner) check(own map[string]json.RawMessage, settings []byte) error {
	for _, k := range e.operatorOnly {
		if _, ok := own[k]; ok {
			return fmt.Errorf("executor %s setting %s is the operator's ([executors.%s] in the config file); an electron cannot set it", e.name, k, e.name)
		}
	}
	_, err := e.textJob(settings)
	return err
}

// job reads the electron's output: a Job, or OpenQASM text (a *quantum.Circuit is encoded as its text) run
// with the settings' shots, seed and observables.
func (e *Runner) job(encoded []byte, settings []byte) (qc.Job, error) {
	// The job is read with encoding/json's strictness (unknown fields refused), from its JSON rendering.
	out, err := codec.ToJSON(encoded)
	if err != nil {
		return qc.Job{}, fmt.Errorf("a %s electron's output cannot be read: %w", e.name, err)
	}
	var src string
	if json.Unmarshal(out, &src) == nil {
		job, err := e.textJob(settings)
		if err != nil {
			return qc.Job{}, err
		}
		job.QASM = src
		return job, job.Validate()
	}
	var job qc.Job
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&job); err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "{") {
		const most = 200
		s := string(out)
		if len(s) > most {
			s = s[:most] + "..."
		}
		return qc.Job{}, fmt.Errorf("a %s electron must return a quantum.Job or an OpenQASM program as a string; it returned %s", e.name, s)
	}
	return job, job.Validate()
}

// Cancel implements executors.Executor.
func (e *Runner) Cancel(taskID string) {
	e.mu.Lock()
	tk, ok := e.tasks[taskID]
	var stop context.CancelFunc
	if ok {
		tk.cancelled = true
		stop = tk.cancel
	}
	e.mu.Unlock()
	switch {
	case !ok:
	case stop != nil:
		stop()
	default: // still in the inner executor (or between phases, where the flag stops it)
		e.inner.Cancel(taskID)
	}
}

// Stats implements executors.Executor: Busy counts jobs in their second phase, Queued electrons still running
// their code.
func (e *Runner) Stats() executors.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := executors.Stats{Name: e.name, Workers: cap(e.sem), Done: e.done.Load()}
	for _, t := range e.tasks {
		if t.running {
			s.Busy++
		} else {
			s.Queued++
		}
	}
	return s
}

// Close implements executors.Executor: running jobs are cancelled (Braket tasks with CancelQuantumTask) and
// not reported. The inner executor belongs to the caller.
func (e *Runner) Close() error {
	e.mu.Lock()
	e.closed = true
	for _, t := range e.tasks {
		if t.cancel != nil {
			t.cancel()
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// QsimSettings are the qsim executor's settings that an electron may set; max_qubits only below the configured
// one.
type QsimSettings struct {
	Shots       int      `json:"shots"`
	Seed        int64    `json:"seed"`
	Observables []string `json:"observables"`
	MaxQubits   int      `json:"max_qubits"`
}

// The quantum executors' memory budget and gate limit are the operator's alone ([executors.NAME]): the
// simulations, and the parsing and results of Braket tasks, happen in the dispatcher's process.
const (
	memorySetting   = "memory"
	maxGatesSetting = "max_gates"
	defaultMemory   = 4 << 30
	defaultMaxGates = 1 << 18
	// defaultMaxQubits is a 1.5 GiB job: two fit the default budget.
	defaultMaxQubits = 26
)

func qsimSettings(name string, raw []byte, ceiling int, budget *qsim.Budget) (QsimSettings, error) {
	s := QsimSettings{Shots: 1000, MaxQubits: ceiling}
	if err := executors.DecodeSettings(name, raw, &s); err != nil {
		return s, err
	}
	if s.Shots < 0 {
		return s, fmt.Errorf("executor %s settings: shots must be >= 0", name)
	}
	if s.MaxQubits < 1 || s.MaxQubits > ceiling {
		return s, fmt.Errorf("executor %s settings: max_qubits %d is not from 1 to the %d configured in [executors.%s] (a %d-qubit state needs %s; %s)",
			name, s.MaxQubits, ceiling, name, s.MaxQubits, qsim.Size(qsim.StateBytes(s.MaxQubits)), budget)
	}
	return s, nil
}

// operatorLimits takes the operator-only settings (memory, max_gates) out of defaults; memory defaults to
// defMemory.
func operatorLimits(name string, defaults map[string]any, defMemory int64) (map[string]any, qsim.Limits, error) {
	rest := maps.Clone(defaults)
	delete(rest, memorySetting)
	delete(rest, maxGatesSetting)
	memory, err := executors.SizeSetting(defaults[memorySetting], defMemory)
	if err != nil {
		return nil, qsim.Limits{}, fmt.Errorf("executor %s setting %s: %w", name, memorySetting, err)
	}
	lim := qsim.Limits{Gates: defaultMaxGates,
		Memory: qsim.NewBudget(memory, fmt.Sprintf("executor %s (%s in [executors.%s])", name, memorySetting, name))}
	if v, ok := defaults[maxGatesSetting]; ok {
		n, ok := executors.IntSetting(v)
		if !ok || n < 1 || n > qasm.MaxOps {
			return nil, lim, fmt.Errorf("executor %s setting %s: want a number of gates from 1 to %d, not %v", name, maxGatesSetting, qasm.MaxOps, v)
		}
		lim.Gates = int(n)
	}
	return rest, lim, nil
}

// configuredQubits is the configured max_qubits, the most an electron may ask for; its state must fit the
// budget.
func configuredQubits(name string, merged []byte, budget *qsim.Budget) (int, error) {
	s := QsimSettings{MaxQubits: defaultMaxQubits}
	if err := executors.DecodeSettings(name, merged, &s); err != nil {
		return 0, err
	}
	if n := s.MaxQubits; n < 1 || n > qsim.MaxQubits || qsim.StateBytes(n) > float64(budget.Bytes()) {
		return 0, fmt.Errorf("executor %s: max_qubits %d: a %d-qubit state needs %s; the simulator takes 1 to %d qubits and %s",
			name, n, n, qsim.Size(qsim.StateBytes(n)), qsim.MaxQubits, budget)
	}
	return s.MaxQubits, nil
}

// NewQsim is the qsim executor: electrons run on inner, their jobs on the state-vector simulator in this
// process, as many at once as there are CPUs (each one also uses every core for large states) and as the
// memory budget holds.
func NewQsim(name string, inner executors.Executor, defaults map[string]any, log *slog.Logger) (*Runner, error) {
	rest, lim, err := operatorLimits(name, defaults, defaultMemory)
	if err != nil {
		return nil, err
	}
	e, err := newExecutor(name, inner, rest, runtime.NumCPU(), log)
	if err != nil {
		return nil, err
	}
	e.operatorOnly = []string{memorySetting, maxGatesSetting}
	if lim.Qubits, err = configuredQubits(name, e.defaults.Merge(nil), lim.Memory); err != nil {
		return nil, err
	}
	e.textJob = func(raw []byte) (qc.Job, error) {
		s, err := qsimSettings(name, raw, lim.Qubits, lim.Memory)
		return qc.Job{Shots: s.Shots, Seed: s.Seed, Observables: s.Observables}, err
	}
	e.run = func(ctx context.Context, job qc.Job, raw []byte) (qc.Result, error) {
		s, err := qsimSettings(name, raw, lim.Qubits, lim.Memory)
		if err != nil {
			return qc.Result{}, err
		}
		l := lim
		l.Qubits = s.MaxQubits
		return qsim.RunJob(ctx, job, l)
	}
	return e, e.check(nil, e.defaults.Merge(nil))
}
