// Package awstask is what the AWS executors share: a task travels to AWS as a file in S3 (the shipped program
// and the arguments), a worker there runs `govalent worker --once --task s3://...` and writes the outcome
// beside it, and the dispatcher side polls the service with backoff, enforces time limits and cancellation, and
// reads the outcome back. The services differ only in how a job starts and how its state is read (Backend).
package awstask

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/results/objects"
)

// Envelope is the task file: everything a worker needs, with no access to the dispatcher.
type Envelope struct {
	Task    executors.Task `json:"task"`
	Program string         `json:"program"`
}

// Duration is a setting's duration: a Go duration string ("30s") or a number of seconds.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		*d = Duration(v)
		return err
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("want a duration like \"30s\" or a number of seconds, got %s", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// Common are the settings every AWS executor reads.
type Common struct {
	// S3 is where task and outcome files go: s3://bucket/prefix (required).
	S3 string `json:"s3"`
	// Poll is the first wait between status checks; it doubles up to MaxPoll.
	Poll    Duration `json:"poll"`
	MaxPoll Duration `json:"max_poll"`
	// NativePlatform is the GOOS/GOARCH of the machines jobs run on (default linux/amd64): electrons run there
	// from the program's native binary built for it, fetched from S3. "none" runs them interpreted. It is read
	// from the executor's configured settings only: the dispatcher builds before any electron's settings apply.
	NativePlatform string `json:"native_platform"`
}

func (c *Common) common() *Common { return c }

// Settings is a backend's settings struct; it embeds Common.
type Settings interface{ common() *Common }

// State is what a poll learnt of a job.
type State struct {
	Done    bool  // it will change no more
	Running bool  // it has started: time limits count from then
	Failure error // for a job that ended without writing an outcome: why
}

// Job is a started task on a service.
type Job interface {
	// Poll reads the job's state; an error is a failure to ask, tried again at the next poll.
	Poll(ctx context.Context) (State, error)
	// Stop ends the job early, for cancellation and time limits.
	Stop(ctx context.Context, reason string) error
}

// Backend starts tasks on one AWS service.
type Backend interface {
	// NewSettings returns a zero settings struct (a pointer to a struct embedding Common) with the backend's
	// defaults filled in.
	NewSettings() Settings
	// Start launches the worker command for the task file at taskURL.
	Start(ctx context.Context, t *executors.Task, taskURL string, s Settings) (Job, error)
}

// JobExecutor runs each task as one remote job (an AWS Batch job, a Lambda invocation) on a Backend.
type JobExecutor struct {
	name     string
	defaults executors.Settings
	backend  Backend
	log      *slog.Logger

	mu      sync.Mutex
	tasks   map[string]*remoteTask
	closed  bool
	wg      sync.WaitGroup
	done    atomic.Int64
	uploads sync.Map // S3 URL of a native binary -> *upload
}

type remoteTask struct {
	cancel  context.CancelCauseFunc
	running bool
}

// maxPollErrors failed status checks in a row give up on a job (with the default backoff, about five minutes).
const maxPollErrors = 10

var (
	errCancelled = errors.New("cancelled")
	errClosed    = errors.New("dispatcher shut down")
)

// New makes an executor; defaults are its [executors.NAME] table, which each electron's ct.With settings
// override.
func New(name string, defaults map[string]any, b Backend, log *slog.Logger) (*JobExecutor, error) {
	if log == nil {
		log = slog.Default()
	}
	settings, err := executors.NewSettings(name, defaults)
	if err != nil {
		return nil, err
	}
	e := &JobExecutor{name: name, defaults: settings, backend: b, log: log, tasks: map[string]*remoteTask{}}
	if _, err := e.settings(nil); err != nil && len(defaults) > 0 {
		var missing *missingError
		if !errors.As(err, &missing) { // a required setting may come from the electron; anything else is a typo
			return nil, err
		}
	}
	return e, nil
}

type missingError struct{ name, key string }

func (e *missingError) Error() string {
	return fmt.Sprintf("executor %s needs the %q setting (in [executors.%s] of the config file, or ct.With(%q, ...) on the electron)", e.name, e.key, e.name, e.key)
}

// settings merges the configured defaults and the electron's settings into the backend's struct; unknown keys
// are refused, so a misspelt setting is an error rather than silently ignored.
func (e *JobExecutor) settings(task map[string]json.RawMessage) (Settings, error) {
	s := e.backend.NewSettings()
	if err := executors.DecodeSettings(e.name, e.defaults.Merge(task), s); err != nil {
		return nil, err
	}
	c := s.common()
	if c.S3 == "" {
		return nil, &missingError{e.name, "s3"}
	}
	if _, _, err := objects.ParseS3URL(c.S3); err != nil {
		return nil, fmt.Errorf("executor %s setting s3: %w", e.name, err)
	}
	if c.Poll <= 0 {
		c.Poll = Duration(2 * time.Second)
	}
	if c.MaxPoll == 0 {
		c.MaxPoll = Duration(30 * time.Second)
	}
	c.MaxPoll = max(c.MaxPoll, c.Poll)
	return s, nil
}

// DefaultNativePlatform is where AWS jobs run unless native_platform says otherwise.
const DefaultNativePlatform = "linux/amd64"

// NativePlatforms implements executors.NativeRunner: the configured native_platform.
func (e *JobExecutor) NativePlatforms() []string {
	var c struct {
		NativePlatform string `json:"native_platform"`
	}
	json.Unmarshal(e.defaults.Merge(nil), &c) // the settings were checked when the executor was made
	switch c.NativePlatform {
	case "none":
		return nil
	case "":
		return []string{DefaultNativePlatform}
	}
	return []string{c.NativePlatform}
}

// withBinary makes sure the task's native binary for the executor's platform is in S3 (under native/, by its
// hash, uploaded once however many tasks name it at once) and returns the task as the job sees it: that binary
// alone, its path the S3 URL.
func (e *JobExecutor) withBinary(ctx context.Context, st *objects.S3, t executors.Task) (executors.Task, error) {
	binaries := t.Binaries
	t.Binaries = nil
	platforms := e.NativePlatforms()
	if len(platforms) == 0 {
		return t, nil
	}
	platform := platforms[0]
	bin, ok := binaries[platform]
	if !ok {
		return t, nil
	}
	name := path.Join("native", bin.Hash)
	url := st.URL(name)
	up, _ := e.uploads.LoadOrStore(url, &upload{})
	if err := up.(*upload).do(func() error { return putOnce(ctx, st, name, bin.Path) }); err != nil {
		return t, err
	}
	t.Binaries = map[string]executors.Binary{platform: {Hash: bin.Hash, Path: url}}
	return t, nil
}

// upload puts one binary in S3 for every task that names it: the first caller uploads, callers meanwhile wait
// for it, and a failure is tried again by the next.
type upload struct {
	mu   sync.Mutex
	done bool
}

func (u *upload) do(put func() error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return nil
	}
	err := put()
	u.done = err == nil
	return err
}

// putOnce uploads the file at path as name unless S3 has it already.
func putOnce(ctx context.Context, st *objects.S3, name, path string) error {
	if there, err := st.Exists(ctx, name); err != nil || there {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return st.Put(ctx, name, f)
}

// Missing builds the error for a required backend setting that is not set.
func (e *JobExecutor) Missing(key string) error { return &missingError{e.name, key} }

// Submit implements executors.Executor.
func (e *JobExecutor) Submit(t *executors.Task, done func(executors.Outcome)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		now := time.Now()
		go done(executors.Outcome{Error: "executor " + e.name + " is shut down", Start: now, End: now})
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	rt := &remoteTask{cancel: cancel}
	e.tasks[t.ID] = rt
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		oc, report := e.run(ctx, t, rt)
		e.mu.Lock()
		delete(e.tasks, t.ID)
		e.mu.Unlock()
		cancel(nil)
		e.done.Add(1)
		if report {
			done(oc)
		}
	}()
}

// Cancel implements executors.Executor.
func (e *JobExecutor) Cancel(taskID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rt := e.tasks[taskID]; rt != nil {
		rt.cancel(errCancelled)
	}
}

// Stats implements executors.Executor: Busy counts jobs running on the service, Queued those waiting there.
func (e *JobExecutor) Stats() executors.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := executors.Stats{Name: e.name, Done: e.done.Load()}
	for _, rt := range e.tasks {
		if rt.running {
			st.Busy++
		} else {
			st.Queued++
		}
	}
	return st
}

// Close implements executors.Executor: jobs still on the service are stopped (their nodes run again when the
// dispatcher resumes) and their outcomes are not reported.
func (e *JobExecutor) Close() error {
	e.mu.Lock()
	e.closed = true
	for _, rt := range e.tasks {
		rt.cancel(errClosed)
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// run takes one task from upload to outcome; report is false when the dispatcher is shutting down.
func (e *JobExecutor) run(ctx context.Context, t *executors.Task, rt *remoteTask) (oc executors.Outcome, report bool) {
	start := time.Now()
	fail := func(err error) (executors.Outcome, bool) {
		return executors.Outcome{Error: err.Error(), Start: start, End: time.Now()}, true
	}
	s, err := e.settings(t.Settings)
	if err != nil {
		return fail(err)
	}
	c := s.common()
	st, err := objects.NewS3(ctx, c.S3)
	if err != nil {
		return fail(err)
	}
	dir := path.Join("tasks", t.DispatchID, t.ID)
	sent, err := e.withBinary(ctx, st, *t)
	if err != nil {
		if context.Cause(ctx) != nil {
			return e.interrupted(ctx, start)
		}
		return fail(fmt.Errorf("%s: uploading the native binary: %w", e.name, err))
	}
	env, _ := json.Marshal(Envelope{Task: sent, Program: t.Program})
	if err := st.Put(ctx, path.Join(dir, "task.json"), bytes.NewReader(env)); err != nil {
		if context.Cause(ctx) != nil {
			return e.interrupted(ctx, start)
		}
		return fail(fmt.Errorf("%s: uploading the task: %w", e.name, err))
	}
	taskURL := st.URL(path.Join(dir, "task.json"))
	// Not cancelled midway: a submission the service took, whose answer a cancel cut off, would leave a job
	// running that nothing stops. A cancel meanwhile stops the job below, once it has its id.
	startCtx, cancelStart := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	job, err := e.backend.Start(startCtx, t, taskURL, s)
	cancelStart()
	if err != nil {
		if context.Cause(ctx) != nil {
			return e.interrupted(ctx, start)
		}
		return fail(fmt.Errorf("%s: starting the job: %w", e.name, err))
	}
	e.log.Debug("task started", "executor", e.name, "task", t.ID, "file", taskURL)
	var deadline <-chan time.Time
	wait := time.Duration(c.Poll)
	pollErrors := 0
	for {
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := job.Stop(stopCtx, "govalent: "+context.Cause(ctx).Error()); err != nil {
				e.log.Warn("stopping a job", "executor", e.name, "task", t.ID, "err", err)
			}
			cancel()
			return e.interrupted(ctx, start)
		case <-deadline:
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			job.Stop(stopCtx, "govalent: time limit")
			cancel()
			return fail(fmt.Errorf("time limit of %s exceeded", t.TimeLimit))
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Duration(c.MaxPoll))
		state, err := job.Poll(ctx)
		if err != nil {
			if pollErrors++; pollErrors >= maxPollErrors {
				stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				job.Stop(stopCtx, "govalent: lost track of the job")
				cancel()
				return fail(fmt.Errorf("%s: lost track of the job after %d failed status checks: %w", e.name, pollErrors, err))
			}
			e.log.Warn("status check failed", "executor", e.name, "task", t.ID, "err", err)
			continue
		}
		pollErrors = 0
		if state.Running && !rt.running {
			e.mu.Lock()
			rt.running = true
			e.mu.Unlock()
			if t.TimeLimit > 0 {
				deadline = time.After(t.TimeLimit)
			}
		}
		if !state.Done {
			continue
		}
		oc, err := readOutcome(ctx, st, path.Join(dir, "outcome.json"))
		if err != nil {
			if state.Failure != nil {
				return fail(fmt.Errorf("%s: %w", e.name, state.Failure))
			}
			return fail(fmt.Errorf("%s: the job ended without a readable outcome: %w", e.name, err))
		}
		return oc, true
	}
}

func (e *JobExecutor) interrupted(ctx context.Context, start time.Time) (executors.Outcome, bool) {
	if errors.Is(context.Cause(ctx), errClosed) {
		return executors.Outcome{}, false
	}
	return executors.Outcome{Cancelled: true, Start: start, End: time.Now()}, true
}

func readOutcome(ctx context.Context, st *objects.S3, name string) (executors.Outcome, error) {
	var oc executors.Outcome
	r, err := st.Get(ctx, name)
	if err != nil {
		return oc, err
	}
	defer r.Close()
	if err := json.NewDecoder(r).Decode(&oc); err != nil {
		return oc, fmt.Errorf("decoding %s: %w", st.URL(name), err)
	}
	return oc, nil
}
