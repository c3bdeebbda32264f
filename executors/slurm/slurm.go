// Package slurm is the "slurm" executor: electrons run as Slurm batch jobs on a cluster whose nodes share a file
// system with the dispatcher's machine, or, with host set, with a login node of the cluster that the dispatcher
// reaches over SSH. Each task gets a directory in the shared directory (dir) holding its
// task file; the job runs `RUNNER worker --once --task DIR/task.json` (RunFile), which writes the outcome
// beside it, atomically, and the executor reads it once the job has ended. Tasks submitted in a burst (less
// than array_window apart) with the same job options go to Slurm as one job array (`sbatch --array=0-N`), whose
// array task i runs the batch's task i: a fan-out is one sbatch, not one per task. One squeue call follows all
// the jobs of the executor per poll, backing off while nothing changes; a cancel is an scancel (or all three
// through slurmrestd, with rest: see below). sacct is not used, since it needs slurmdbd: squeue (which the controller answers for ended jobs too, for MinJobAge) and
// the outcome files tell how a job ended.
//
// Through a login node (host set), sbatch, squeue and scancel run there, over the ssh executor's connections
// (package executors/ssh: keys, ssh-agent, known_hosts checked, a jump host); dir is a path on the login node,
// on the file system the nodes share; the task files are written, the runner and native binaries uploaded
// (once, by hash) and the outcomes read over SSH, with POSIX sh and the usual tools there (cat, mkdir, mv, rm,
// chmod, tail, ls, id, wc, base64). The cluster's platform is the login node's (uname), found when the
// executor is made; dir is made or checked (the user's alone) at the first task. Nothing else is needed there:
// no Go toolchain, no govalent.
//
// The runner is a govalent binary for the cluster's platform, copied into dir/bin by its content hash once:
// this executable by default, when the cluster's platform is this machine's. An electron for which the
// dispatcher built a native worker binary for the cluster's platform runs from it (also copied once by hash);
// the runner starts it. A cluster of another platform needs runner set to a govalent binary built for it
// (GOOS=linux GOARCH=arm64 go build ./cmd/govalent): the executor refuses to start without one (through a login
// node whose platform it detects, the tasks fail saying so).
//
// After a dispatcher restart, Adopt finds a node's earlier job by its task directory (the node's latest task,
// the array it went in, the array's job id, or else the array's job name in squeue) and reports that job's
// outcome instead of submitting again; Close leaves jobs running for that reason.
//
// Settings ([executors.slurm] in the config file; those marked * also by ct.With on an electron):
//
//	dir            the working directory on the file system the nodes share (required, absolute; with host, the
//	               login node's path)
//	partition *    --partition
//	account *      --account
//	qos *          --qos
//	time *         --time for tasks without a time limit ("30", "2:00:00", "1-00:00:00"); ct.TimeLimit wins,
//	               rounded up to whole minutes (the runner enforces it to the millisecond)
//	cpus *         --cpus-per-task
//	memory *       --mem ("4G"; a number is MiB)
//	gpus *         --gpus ("1", "a100:2")
//	prologue *     lines the job runs before the task ("module load gcc/12")
//	sbatch_options *  more sbatch arguments (["--constraint=skylake"])
//	platform       the nodes' GOOS/GOARCH (default this machine's, or with host the login node's)
//	runner         a govalent binary for that platform (default this executable)
//	array_window   a batch is submitted once no task has joined it for this long (default "50ms"), or once its
//	               first task has waited 20 times as long; "0" submits each task as it comes, one sbatch per task
//	max_array      the most tasks in one array (default 1000; mind the cluster's MaxArraySize)
//	poll, max_poll squeue: the first wait, doubling while nothing changes up to max_poll (default 1s and 15s)
//	command_timeout  the bound of each sbatch, squeue and scancel call (default 60s), and of each file
//	               operation on the login node (uploads are not bounded)
//	host, port, user, key_file, known_hosts, accept_new_host_keys, jump
//	               the login node, as the ssh executor's settings of those names: without host, the Slurm
//	               commands and dir are this machine's
//	rest           slurmrestd ("http://host:port", "https://host:port" or "unix:///path"): jobs are submitted
//	               (arrays too), followed and cancelled through its REST API (OpenAPI v0.0.38, Slurm 22.05) instead
//	               of sbatch, squeue and scancel; files still go through dir (and host). Its job description
//	               carries partition, account, qos, time, cpus and memory: gpus and sbatch_options are refused;
//	               the job's environment is PATH=/usr/local/bin:/usr/bin:/bin (sbatch passes the dispatcher's)
//	token          a JSON web token for slurmrestd's rest_auth/jwt (scontrol token; default $SLURM_JWT); none
//	               over a unix socket with rest_auth/local
//	rest_user      the user the token is for (default the dispatcher's)
//
// Through slurmrestd, one GET /jobs follows all the jobs per poll (the array tasks not yet started are one
// record, expanded from its array_task_string); Adopt finds a job by name the same way.
package slurm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/aws/awstask"
	sshexec "github.com/govalent/govalent/executors/ssh"
	"github.com/govalent/govalent/native"
)

// Settings are the slurm executor's settings.
type Settings struct {
	Partition string   `json:"partition"`
	Account   string   `json:"account"`
	QOS       string   `json:"qos"`
	Time      word     `json:"time"`
	CPUs      int      `json:"cpus"`
	Memory    word     `json:"memory"`
	GPUs      word     `json:"gpus"`
	Prologue  lines    `json:"prologue"`
	Options   []string `json:"sbatch_options"`

	// The executor's own: an electron cannot set them (executorOnly).
	sshexec.Login                   // host, port, user, key_file, known_hosts, accept_new_host_keys, jump: the login node
	Dir            string           `json:"dir"`
	Platform       string           `json:"platform"`
	Runner         string           `json:"runner"`
	ArrayWindow    awstask.Duration `json:"array_window"`
	MaxArray       int              `json:"max_array"`
	Poll           awstask.Duration `json:"poll"`
	MaxPoll        awstask.Duration `json:"max_poll"`
	CommandTimeout awstask.Duration `json:"command_timeout"`
	REST           string           `json:"rest"`
	Token          string           `json:"token"`
	RESTUser       string           `json:"rest_user"`
}

// maxSbatch is the most sbatch calls the executor makes at once.
const maxSbatch = 4

// executorOnly are the settings an electron's ct.With cannot change: they describe the cluster and the
// executor's way of following it, not a job.
var executorOnly = []string{"dir", "platform", "runner", "array_window", "max_array", "poll", "max_poll", "command_timeout",
	"rest", "token", "rest_user", "host", "port", "user", "key_file", "known_hosts", "accept_new_host_keys", "jump"}

// word is a setting given as a string or a number ("4G" or 4096).
type word string

func (w *word) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*w = word(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*w = word(n)
	return nil
}

// lines is a setting given as one string or a list of them.
type lines []string

func (l *lines) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = lines{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", b)
	}
	*l = list
	return nil
}

// Executor runs tasks as Slurm jobs.
type Executor struct {
	name     string
	defaults executors.Settings
	cfg      Settings // the configured settings, with the executor's own filled in
	log      *slog.Logger
	site     site            // where dir and the Slurm commands are
	client   *sshexec.Client // the login node's connections, with host
	rest     *restClient     // slurmrestd, with rest: jobs go through it instead of sbatch, squeue and scancel

	ctx  context.Context // ends at Close: stops the poller and the commands in flight
	stop context.CancelFunc
	wg   sync.WaitGroup
	wake chan struct{} // a job was added: poll soon
	puts sync.Map      // path -> *putOnce: binaries and programs in dir
	// sbatchSlots bounds the sbatch calls at once: with arrays off, a fan-out would start one per task.
	sbatchSlots chan struct{}

	mu       sync.Mutex
	closed   bool
	pending  map[string]*batch // batches waiting for array_window, by job options
	entries  map[string]*entry // every task not yet reported, by task id
	tracked  map[string]*entry // submitted tasks by job ("123_4", or "123" for a job of its own)
	done     int64
	runnerMu sync.Mutex
	runner   string // the runner's path in dir/bin, once copied
	// detected is closed once the login node's platform is known or could not be found (with host and no
	// platform setting); platform is the cluster's, once known.
	detected chan struct{}
	detectMu sync.Mutex // one detection at a time
	platMu   sync.Mutex
	platform string
	// unconfigured fails every task: the executor has no dir.
	unconfigured error
}

// entry is one task the executor will report: submitted, or adopted from before a restart.
type entry struct {
	task   *executors.Task
	done   func(executors.Outcome)
	dir    string // its task directory
	start  time.Time
	job    string // Slurm's id of its job, once submitted
	log    string // the job's log file
	state  string // the latest state squeue gave
	ended  time.Time
	finish bool // reported
}

// New makes the executor; settings are its [executors.NAME] table. Nothing is asked of the cluster until the
// first task.
func New(name string, settings map[string]any, log *slog.Logger) (*Executor, error) {
	if log == nil {
		log = slog.Default()
	}
	defaults, err := executors.NewSettings(name, settings)
	if err != nil {
		return nil, err
	}
	e := &Executor{name: name, defaults: defaults, log: log, wake: make(chan struct{}, 1), sbatchSlots: make(chan struct{}, maxSbatch),
		pending: map[string]*batch{}, entries: map[string]*entry{}, tracked: map[string]*entry{}}
	if err := executors.DecodeSettings(name, defaults.Merge(nil), &e.cfg); err != nil {
		return nil, err
	}
	c := &e.cfg
	e.site = local{}
	if c.Host != "" {
		if e.client, err = sshexec.NewClient(name, c.Login); err != nil {
			return nil, err
		}
		e.site = overSSH{e.client}
	} else if c.Port != 0 || c.User != "" || c.KeyFile != "" || c.KnownHosts != "" || c.AcceptNewHostKeys || c.Jump != "" {
		return nil, fmt.Errorf("executor %s: port, user, key_file, known_hosts, accept_new_host_keys and jump are for reaching a login node: set host too", name)
	}
	where := "a directory the cluster's nodes share with this machine"
	if e.client != nil {
		where = "a directory on the login node's file system, which the nodes share"
	}
	if c.Dir == "" {
		// Not configured: the dispatcher starts without a cluster, and the electrons sent here fail saying why.
		e.unconfigured = fmt.Errorf("executor %s needs the \"dir\" setting (in [executors.%s] of the config file): %s", name, name, where)
	} else if !filepath.IsAbs(c.Dir) {
		return nil, fmt.Errorf("executor %s setting dir: %q is not an absolute path (the nodes see it as the %s does)", name, c.Dir,
			map[bool]string{false: "dispatcher's machine", true: "login node"}[e.client != nil])
	}
	c.Dir = filepath.Clean(c.Dir)
	if c.Platform == "" && e.client == nil {
		c.Platform = executors.Platform
	}
	if c.Platform != "" {
		if goos, goarch, ok := strings.Cut(c.Platform, "/"); !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("executor %s setting platform: want GOOS/GOARCH (\"linux/amd64\"), not %q", name, c.Platform)
		}
		if c.Runner, err = e.runnerFor(c.Platform); err != nil {
			return nil, err
		}
	} else if c.Runner != "" {
		if _, err := os.Stat(c.Runner); err != nil {
			return nil, fmt.Errorf("executor %s setting runner: %w", name, err)
		}
	}
	switch {
	case c.ArrayWindow < 0:
		return nil, fmt.Errorf("executor %s setting array_window: %s is negative", name, time.Duration(c.ArrayWindow))
	case c.ArrayWindow == 0 && settings["array_window"] == nil:
		c.ArrayWindow = awstask.Duration(50 * time.Millisecond)
	}
	if c.MaxArray == 0 {
		c.MaxArray = 1000
	}
	if c.MaxArray < 0 {
		return nil, fmt.Errorf("executor %s setting max_array: %d is negative", name, c.MaxArray)
	}
	if c.Poll <= 0 {
		c.Poll = awstask.Duration(time.Second)
	}
	if c.MaxPoll <= 0 {
		c.MaxPoll = awstask.Duration(15 * time.Second)
	}
	c.MaxPoll = max(c.MaxPoll, c.Poll)
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = awstask.Duration(time.Minute)
	}
	if c.REST != "" {
		if e.rest, err = newRESTClient(name, c.REST, c.Token, c.RESTUser); err != nil {
			return nil, err
		}
	} else if c.Token != "" || c.RESTUser != "" {
		return nil, fmt.Errorf("executor %s: token and rest_user are for reaching slurmrestd: set rest too", name)
	}
	if _, err := e.jobOptions(c, 0); err != nil {
		return nil, fmt.Errorf("executor %s: %w", name, err)
	}
	if e.unconfigured == nil && e.client == nil {
		// Runners, programs and arguments go there: another user who could write in it could run code as us.
		// (On a login node it is made or checked there at the first task, before anything is written in it.)
		if err := native.OwnDir(c.Dir); err != nil {
			return nil, fmt.Errorf("executor %s setting dir: %w", name, err)
		}
	}
	e.ctx, e.stop = context.WithCancel(context.Background())
	e.detected = make(chan struct{})
	if c.Platform != "" {
		e.platform = c.Platform
		close(e.detected)
	} else {
		// Now, so that the first dispatch does not wait for it.
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(e.detected)
			if _, err := e.clusterPlatform(); err != nil {
				e.log.Warn("slurm executor: the login node's platform is unknown for now, electrons run interpreted", "executor", e.name, "err", err)
			}
		}()
	}
	e.wg.Add(1)
	go e.poll()
	return e, nil
}

// runnerFor is the runner for a cluster of platform: the runner setting, or this executable when the platform
// is this machine's.
func (e *Executor) runnerFor(platform string) (string, error) {
	runner := e.cfg.Runner
	if runner == "" {
		if platform != executors.Platform {
			goos, goarch, _ := strings.Cut(platform, "/")
			return "", settingsError{fmt.Errorf("executor %s: the cluster's platform is %s, not this machine's %s: set runner to a govalent binary built for it (GOOS=%s GOARCH=%s go build ./cmd/govalent)",
				e.name, platform, executors.Platform, goos, goarch)}
		}
		var err error
		if runner, err = os.Executable(); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(runner); err != nil {
		return "", settingsError{fmt.Errorf("executor %s setting runner: %w", e.name, err)}
	}
	return runner, nil
}

// clusterPlatform is the cluster's platform: the platform setting, or the login node's (uname over SSH),
// detected once.
func (e *Executor) clusterPlatform() (string, error) {
	e.detectMu.Lock()
	defer e.detectMu.Unlock()
	if p := e.knownPlatform(); p != "" {
		return p, nil
	}
	ctx, cancel := e.bounded()
	defer cancel()
	p, err := e.client.Platform(ctx)
	if err != nil {
		err = fmt.Errorf("executor %s: reaching the login node: %w", e.name, err)
		if sshexec.Permanent(err) {
			err = settingsError{err}
		}
		return "", err
	}
	e.platMu.Lock()
	e.platform = p
	e.platMu.Unlock()
	return p, nil
}

// knownPlatform is the cluster's platform, or "" while the login node's is not known.
func (e *Executor) knownPlatform() string {
	e.platMu.Lock()
	defer e.platMu.Unlock()
	return e.platform
}

// detectWait bounds how long a dispatch waits for the login node's platform (NativePlatforms is asked on the
// dispatcher's scheduling path).
const detectWait = 5 * time.Second

// NativePlatforms implements executors.NativeRunner: the cluster's platform (while the login node's is not
// known yet, none: electrons run interpreted).
func (e *Executor) NativePlatforms() []string {
	select {
	case <-e.detected:
	case <-time.After(detectWait):
	}
	if p := e.knownPlatform(); p != "" {
		return []string{p}
	}
	return nil
}

// bounded is a context for one command or file operation on the site: command_timeout, ended by Close.
func (e *Executor) bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, time.Duration(e.cfg.CommandTimeout))
}

// settings are the job options of a task: the configured ones under its own.
func (e *Executor) settings(t *executors.Task) (*Settings, error) {
	for _, k := range executorOnly {
		if _, ok := t.Settings[k]; ok {
			return nil, fmt.Errorf("executor %s setting %s is the executor's, not an electron's: set it in [executors.%s] of the config file", e.name, k, e.name)
		}
	}
	s := new(Settings)
	if err := executors.DecodeSettings(e.name, e.defaults.Merge(t.Settings), s); err != nil {
		return nil, err
	}
	return s, nil
}

// Submit implements executors.Executor.
func (e *Executor) Submit(t *executors.Task, done func(executors.Outcome)) {
	e.submit(&entry{task: t, done: done, start: time.Now()})
}

func (e *Executor) submit(en *entry) {
	t := en.task
	s, err := e.settings(t)
	if err == nil {
		err = e.unconfigured
	}
	var opts []string
	if err == nil {
		opts, err = e.jobOptions(s, t.TimeLimit)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		go en.done(failure(en.start, "executor "+e.name+" is shut down", ""))
		return
	}
	e.entries[t.ID] = en
	if err != nil {
		e.report(en, failure(en.start, err.Error(), executors.ErrorSettings))
		return
	}
	e.enqueue(en, opts, s.Prologue)
}

// Adopt implements executors.Adopter: the node's latest task in the shared directory, if it was submitted, is
// followed to its end and its outcome reported as t's; otherwise t is submitted.
func (e *Executor) Adopt(t *executors.Task, done func(executors.Outcome)) {
	en := &entry{task: t, done: done, start: time.Now()}
	if e.unconfigured != nil || !e.adopt(en) {
		e.submit(en)
	}
}

func (e *Executor) adopt(en *entry) bool {
	nodeDir := e.nodeDir(en.task)
	latest, err := e.read(filepath.Join(nodeDir, latestName))
	if err != nil {
		return e.notAdopted(en, err)
	}
	dir := filepath.Join(nodeDir, filepath.Base(strings.TrimSpace(string(latest))))
	// A job that ended while the dispatcher was away left its outcome (and Slurm may have forgotten it since).
	ended, err := e.readOutcome(filepath.Join(dir, outcomeName))
	if err != nil {
		var b struct {
			id           string
			index, count int
		}
		raw, err := e.read(filepath.Join(dir, batchName))
		if err != nil {
			return e.notAdopted(en, err) // never submitted, or the login node did not answer
		}
		if _, err := fmt.Sscan(string(raw), &b.id, &b.index, &b.count); err != nil {
			e.log.Warn("unreadable batch file; submitting the node again", "executor", e.name, "dir", dir, "err", err)
			return false
		}
		jobID, err := e.arrayJob(b.id)
		if err != nil {
			e.log.Warn("cannot find the job of a task from before the restart; submitting it again", "executor", e.name, "dir", dir, "err", err)
			return false
		}
		en.job, en.log = jobKey(jobID, b.index, b.count), e.logPath(b.id, b.index)
	}
	en.dir = dir
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		go en.done(failure(en.start, "executor "+e.name+" is shut down", ""))
		return true
	}
	e.entries[en.task.ID] = en
	if en.job == "" {
		e.report(en, ended)
		return true
	}
	e.tracked[en.job] = en
	e.log.Info("adopted a job from before the restart", "executor", e.name, "task", en.task.ID, "job", en.job)
	e.poke()
	return true
}

// notAdopted tells whether to submit a task whose earlier job's files could not be read: yes when they are
// missing (it was never submitted); when the login node could not be asked, the task fails (retryably)
// rather than run a second time beside a job that may be running.
func (e *Executor) notAdopted(en *entry, err error) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entries[en.task.ID] = en
	oc := failure(en.start, fmt.Sprintf("executor %s: finding the task's job from before the restart: %v", e.name, err), executors.ErrorCrash)
	oc.Retryable = true
	e.report(en, oc)
	return true
}

// read reads a file of the site, bounded by command_timeout.
func (e *Executor) read(path string) ([]byte, error) {
	ctx, cancel := e.bounded()
	defer cancel()
	return e.site.read(ctx, path)
}

// arrayJob is the job id of the batch: from the file written after its sbatch, or else (the dispatcher stopped
// between the two) from the job name in squeue.
func (e *Executor) arrayJob(batchID string) (string, error) {
	if id, err := e.read(filepath.Join(e.batchDir(batchID), "job")); err == nil {
		return strings.TrimSpace(string(id)), nil
	}
	if e.rest != nil {
		ctx, cancel := e.bounded()
		defer cancel()
		id, err := e.rest.byName(ctx, jobName(batchID))
		if err == nil && id == "" {
			err = fmt.Errorf("no job named %s", jobName(batchID))
		}
		return id, err
	}
	out, err := e.command("squeue", "-h", "-t", "all", "--name="+jobName(batchID), "-o", "%F")
	if err != nil {
		return "", err
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		return ids[0], nil
	}
	return "", fmt.Errorf("no job named %s", jobName(batchID))
}

// Cancel implements executors.Executor: a task not yet submitted is taken out of its batch; a job is
// scancelled. Either way the task is reported cancelled at once.
func (e *Executor) Cancel(taskID string) {
	e.mu.Lock()
	en := e.entries[taskID]
	if en == nil || en.finish || e.closed {
		e.mu.Unlock()
		return
	}
	e.unqueue(en)
	job := en.job
	if job != "" {
		delete(e.tracked, job)
	}
	e.report(en, executors.Outcome{Cancelled: true, Start: en.start, End: time.Now()})
	e.mu.Unlock()
	if job != "" {
		e.scancel(job)
	}
}

// scancel cancels a job, in the background: the task is already reported.
func (e *Executor) scancel(job string) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.cancelJob(job); err != nil {
			e.log.Warn("scancel failed", "executor", e.name, "job", job, "err", err)
		}
	}()
}

// Stats implements executors.Executor: Busy counts running jobs, Queued the tasks waiting for sbatch or in
// Slurm's queue.
func (e *Executor) Stats() executors.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := executors.Stats{Name: e.name, Done: e.done}
	for _, en := range e.entries {
		if en.state == "RUNNING" || en.state == "COMPLETING" {
			st.Busy++
		} else {
			st.Queued++
		}
	}
	return st
}

// Close implements executors.Executor: tasks not yet submitted are dropped; jobs go on running on the cluster,
// for the dispatcher to adopt when it resumes. Their outcomes are not reported.
func (e *Executor) Close() error {
	e.mu.Lock()
	e.closed = true
	for _, b := range e.pending {
		b.timer.Stop()
	}
	e.pending = map[string]*batch{}
	e.mu.Unlock()
	e.stop()
	e.wg.Wait()
	if e.client != nil {
		e.client.Close()
	}
	return nil
}

// report ends en with oc: done is called once, in its own goroutine. e.mu is held.
func (e *Executor) report(en *entry, oc executors.Outcome) {
	if en.finish {
		return
	}
	en.finish = true
	if e.entries[en.task.ID] == en {
		delete(e.entries, en.task.ID)
	}
	if e.closed {
		return // a command stopped by Close: the contract has no outcomes after it
	}
	e.done++
	go en.done(oc)
}

func failure(start time.Time, msg string, kind executors.ErrorKind) executors.Outcome {
	return executors.Outcome{Error: msg, ErrorKind: kind, Start: start, End: time.Now()}
}

// poke wakes the poller. e.mu is held or not.
func (e *Executor) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// command runs a Slurm command, bounded by command_timeout and stopped by Close, and returns its output; an
// error carries what the command said.
func (e *Executor) command(name string, args ...string) (string, error) {
	ctx, cancel := e.bounded()
	defer cancel()
	out, stderr, err := e.site.command(ctx, name, args)
	if err != nil {
		msg := strings.TrimSpace(stderr)
		switch {
		case e.ctx.Err() != nil:
			msg = "stopped: the executor is closing"
		case ctx.Err() != nil:
			msg = fmt.Sprintf("no answer within %s (command_timeout)", time.Duration(e.cfg.CommandTimeout))
		}
		return out, &commandError{name: name, err: err, stderr: msg}
	}
	return out, nil
}

type commandError struct {
	name   string
	err    error
	stderr string
}

func (c *commandError) Error() string {
	if c.stderr == "" {
		return fmt.Sprintf("%s: %v", c.name, c.err)
	}
	return fmt.Sprintf("%s: %v: %s", c.name, c.err, c.stderr)
}

// nodeDir is where the tasks of t's node keep their directories.
func (e *Executor) nodeDir(t *executors.Task) string {
	return filepath.Join(e.cfg.Dir, "tasks", pathElem(t.DispatchID), strconv.Itoa(t.NodeID))
}

func (e *Executor) batchDir(id string) string { return filepath.Join(e.cfg.Dir, "batches", id) }

// logPath is the log of array task index of a batch: what it printed, and what Slurm said of it.
func (e *Executor) logPath(batchID string, index int) string {
	return filepath.Join(e.batchDir(batchID), strconv.Itoa(index)+".log")
}

// pathElem makes an id (a task id holds slashes) one safe element of a path, distinct for distinct ids.
func pathElem(id string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, id)
	if clean == id && id != "" && id != "." && id != ".." {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return clean + "-" + hex.EncodeToString(sum[:4])
}

// runnerPath copies the runner into dir/bin by its hash, once, and returns where the jobs find it.
func (e *Executor) runnerPath() (string, error) {
	e.runnerMu.Lock()
	defer e.runnerMu.Unlock()
	if e.runner != "" {
		return e.runner, nil
	}
	local := e.cfg.Runner
	if e.client != nil {
		// The first task on a login node: its platform decides the runner, and dir is checked there.
		platform, err := e.clusterPlatform()
		if err != nil {
			return "", err
		}
		if local == "" {
			if local, err = e.runnerFor(platform); err != nil {
				return "", err
			}
		}
		ctx, cancel := e.bounded()
		err = e.site.ownDir(ctx, e.cfg.Dir)
		cancel()
		if err != nil {
			return "", fmt.Errorf("executor %s setting dir: %w", e.name, err)
		}
	}
	hash, err := native.FileHash(local)
	if err != nil {
		return "", fmt.Errorf("executor %s: runner %s: %w", e.name, local, err)
	}
	path, err := e.copyBinary(hash, local)
	if err != nil {
		return "", fmt.Errorf("executor %s: %w", e.name, err)
	}
	e.runner = path
	return path, nil
}

// putOnce makes the file dst for every task that needs it: the first caller puts it there unless it exists,
// callers meanwhile wait for it, and a failure is tried again by the next.
func (e *Executor) putOnce(dst string, put func() error) error {
	c, _ := e.puts.LoadOrStore(dst, &putOnce{})
	p := c.(*putOnce)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return nil
	}
	ctx, cancel := e.bounded()
	there, err := e.site.exists(ctx, dst)
	cancel()
	if err != nil {
		return err
	}
	if !there {
		if err := put(); err != nil {
			return err
		}
	}
	p.done = true
	return nil
}

type putOnce struct {
	mu   sync.Mutex
	done bool
}

// copyBinary puts the file at src into dir/bin under its hash, once, and returns its path there.
func (e *Executor) copyBinary(hash, src string) (string, error) {
	if hash == "" || pathElem(hash) != hash {
		return "", fmt.Errorf("binary %s: bad hash %q", src, hash)
	}
	dst := filepath.Join(e.cfg.Dir, "bin", hash)
	// Uploads are bounded by Close only: a large binary over a slow link may take longer than command_timeout.
	if err := e.putOnce(dst, func() error { return e.site.copyIn(e.ctx, dst, src) }); err != nil {
		return "", fmt.Errorf("copying %s into the shared directory: %w", src, err)
	}
	return dst, nil
}

// programFile puts a task's program into dir/programs under its hash, once, and returns its path there: the
// tasks of a fan-out share one copy.
func (e *Executor) programFile(t *executors.Task) (string, error) {
	dst := filepath.Join(e.cfg.Dir, "programs", pathElem(t.ProgramHash)+".go")
	return dst, e.putOnce(dst, func() error { return e.write(file{dst, []byte(t.Program), 0o600}) })
}

// write writes files on the site, bounded by command_timeout.
func (e *Executor) write(files ...file) error {
	ctx, cancel := e.bounded()
	defer cancel()
	return e.site.write(ctx, nil, files...)
}

// cancelJob cancels a job: scancel, or through slurmrestd.
func (e *Executor) cancelJob(job string) error {
	if e.rest == nil {
		_, err := e.command("scancel", job)
		return err
	}
	ctx, cancel := e.bounded()
	defer cancel()
	return e.rest.cancel(ctx, job)
}

// jobOptions are jobOptions(s, limit), checked to have a job description for slurmrestd with rest.
func (e *Executor) jobOptions(s *Settings, limit time.Duration) ([]string, error) {
	opts, err := jobOptions(s, limit)
	if err == nil && e.rest != nil {
		_, err = restJob(opts)
	}
	return opts, err
}

// jobOptions are the sbatch options of a task's job (the same for every task of an array). A time limit
// becomes --time in whole minutes, rounded up.
func jobOptions(s *Settings, limit time.Duration) ([]string, error) {
	var opts []string
	add := func(flag, v string) {
		if v != "" {
			opts = append(opts, flag+"="+v)
		}
	}
	add("--partition", s.Partition)
	add("--account", s.Account)
	add("--qos", s.QOS)
	if limit > 0 {
		add("--time", strconv.FormatInt(int64((limit+time.Minute-1)/time.Minute), 10))
	} else {
		add("--time", string(s.Time))
	}
	if s.CPUs < 0 {
		return nil, fmt.Errorf("setting cpus: %d is negative", s.CPUs)
	}
	if s.CPUs > 0 {
		add("--cpus-per-task", strconv.Itoa(s.CPUs))
	}
	add("--mem", string(s.Memory))
	add("--gpus", string(s.GPUs))
	for _, o := range s.Options {
		if !strings.HasPrefix(o, "-") {
			return nil, fmt.Errorf("setting sbatch_options: %q is not an option (want \"--name=value\")", o)
		}
		if name, _, _ := strings.Cut(o, "="); slices.Contains([]string{"--array", "-a", "--output", "-o", "--error", "-e", "--job-name", "-J", "--parsable"}, name) {
			return nil, fmt.Errorf("setting sbatch_options: %s is the executor's to set", name)
		}
	}
	return append(opts, s.Options...), nil
}

// jobKey is how squeue names array task index of job id (a batch of one is a job of its own).
func jobKey(id string, index, count int) string {
	if count == 1 {
		return id
	}
	return id + "_" + strconv.Itoa(index)
}

// jobName is a batch's job name, by which its job is found when its id was never written down.
func jobName(batchID string) string { return "govalent-" + batchID }

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
