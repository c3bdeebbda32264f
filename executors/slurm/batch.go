package slurm

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/govalent/govalent/executors"
)

// batch is the tasks of one job array: those with the same job options that came in a burst.
type batch struct {
	key      string
	opts     []string
	prologue []string
	entries  []*entry
	first    time.Time // when its first task came
	timer    *time.Timer
}

// enqueue puts en in the pending batch of its job options. A batch is submitted once no task has joined it for
// array_window, or once its first task has waited maxWaits windows, or at once when full. e.mu is held.
func (e *Executor) enqueue(en *entry, opts, prologue []string) {
	key := strings.Join(opts, "\x00") + "\x01" + strings.Join(prologue, "\x00")
	window := time.Duration(e.cfg.ArrayWindow)
	b := e.pending[key]
	if b == nil {
		b = &batch{key: key, opts: opts, prologue: prologue, first: time.Now()}
		e.pending[key] = b
		b.timer = time.AfterFunc(window, func() { e.due(b) })
	} else if time.Since(b.first) < maxWaits*window {
		b.timer.Reset(window)
	}
	b.entries = append(b.entries, en)
	if len(b.entries) >= max(1, e.cfg.MaxArray) || window == 0 {
		b.timer.Stop()
		e.launch(b)
	}
}

// maxWaits bounds how long tasks that keep coming hold up a batch's first task, in array windows.
const maxWaits = 20

// due submits b once its window has passed, unless it was submitted already (full) or the executor closed.
func (e *Executor) due(b *batch) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending[b.key] == b {
		e.launch(b)
	}
}

// launch takes b out of the pending batches and submits it in the background. e.mu is held.
func (e *Executor) launch(b *batch) {
	delete(e.pending, b.key)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.sbatch(b)
	}()
}

// unqueue takes en out of its pending batch, if it is in one. e.mu is held.
func (e *Executor) unqueue(en *entry) {
	for _, b := range e.pending {
		for i, x := range b.entries {
			if x == en {
				b.entries = append(b.entries[:i], b.entries[i+1:]...)
				return
			}
		}
	}
}

// sbatch writes the batch's task directories and job script and submits it as one job (an array when it holds
// more than one task).
func (e *Executor) sbatch(b *batch) {
	id := newBatchID()
	fail := func(ens []*entry, msg string, kind executors.ErrorKind) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, en := range ens {
			e.report(en, failure(en.start, msg, kind))
		}
	}
	runner, err := e.runnerPath()
	if err != nil {
		var kind executors.ErrorKind
		if errors.As(err, new(settingsError)) {
			kind = executors.ErrorSettings
		}
		fail(b.entries, err.Error(), kind) // it names the executor
		return
	}
	// Each task's files first: a task whose binary or program cannot be put in place fails alone.
	var ready []*entry
	var dirs []string
	var files []file
	for _, en := range b.entries {
		if e.isFinished(en) {
			continue // cancelled meanwhile
		}
		f, err := e.taskFiles(en)
		if err != nil {
			fail([]*entry{en}, fmt.Sprintf("executor %s: writing the task's files: %v", e.name, err), "")
			continue
		}
		ready = append(ready, en)
		dirs = append(dirs, en.dir)
		files = append(files, f...)
	}
	if len(ready) == 0 {
		return
	}
	// Each task's batch file says where it is in the array, for Adopt after a restart; then the job script. All
	// of the batch's files are written in one go (one SSH session on a login node); a task directory left by a
	// dispatcher before a restart, never submitted, is replaced.
	for i, en := range ready {
		files = append(files, file{filepath.Join(en.dir, batchName), fmt.Appendf(nil, "%s %d %d\n", id, i, len(ready)), 0o600})
	}
	script := filepath.Join(e.batchDir(id), "job.sh")
	scriptData := jobScript(id, runner, b.prologue, ready)
	files = append(files, file{script, scriptData, 0o700})
	ctx, cancel := e.bounded()
	err = e.site.write(ctx, dirs, files...)
	cancel()
	if err != nil {
		fail(ready, fmt.Sprintf("executor %s: writing the tasks' files: %v", e.name, err), "")
		return
	}
	e.sbatchSlots <- struct{}{}
	jobID, err := e.submitJob(id, b.opts, script, scriptData, len(ready))
	<-e.sbatchSlots
	if err != nil {
		fail(ready, fmt.Sprintf("executor %s: submitting the job: %v", e.name, err), sbatchKind(err))
		return
	}
	if err := e.write(file{filepath.Join(e.batchDir(id), "job"), []byte(jobID + "\n"), 0o600}); err != nil {
		e.log.Warn("cannot write the job id down; a restart will find the job by name", "executor", e.name, "job", jobID, "err", err)
	}
	e.log.Debug("submitted", "executor", e.name, "job", jobID, "tasks", len(ready))
	var cancelled []string
	e.mu.Lock()
	for i, en := range ready {
		en.job, en.log = jobKey(jobID, i, len(ready)), e.logPath(id, i)
		if en.finish {
			cancelled = append(cancelled, en.job) // cancelled while sbatch ran
			continue
		}
		e.tracked[en.job] = en
	}
	e.poke()
	e.mu.Unlock()
	for _, job := range cancelled {
		e.scancel(job)
	}
}

// submitJob submits the job script of batch id (written at script), an array when count > 1, with sbatch or through slurmrestd,
// and returns its job id.
func (e *Executor) submitJob(id string, opts []string, script string, scriptData []byte, count int) (string, error) {
	output := e.logPath(id, 0)
	if count > 1 {
		output = filepath.Join(e.batchDir(id), "%a.log")
	}
	if e.rest != nil {
		job, err := restJob(opts)
		if err != nil {
			return "", err
		}
		job["name"], job["current_working_directory"], job["standard_output"] = jobName(id), e.cfg.Dir, output
		ctx, cancel := e.bounded()
		defer cancel()
		return e.rest.submit(ctx, job, string(scriptData), count)
	}
	args := append([]string{"--parsable", "--job-name=" + jobName(id), "--chdir=" + e.cfg.Dir}, opts...)
	if count > 1 {
		args = append(args, fmt.Sprintf("--array=0-%d", count-1))
	}
	out, err := e.command("sbatch", append(args, "--output="+output, script)...)
	if err != nil {
		return "", err
	}
	jobID, _, _ := strings.Cut(strings.TrimSpace(out), ";") // --parsable: "ID" or "ID;CLUSTER"
	if _, err := strconv.Atoi(jobID); err != nil {
		return "", fmt.Errorf("sbatch answered %q, not a job id", out)
	}
	return jobID, nil
}

func (e *Executor) isFinished(en *entry) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return en.finish
}

// sbatchKind says whether sbatch refused the job's options (a wrong partition, account, QoS...), which a retry
// cannot mend, or failed otherwise (the controller did not answer).
func sbatchKind(err error) executors.ErrorKind {
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "invalid") || strings.Contains(msg, "not available") || strings.Contains(msg, "can not be satisfied") {
		return executors.ErrorSettings
	}
	return ""
}

// taskFiles are en's task file and its node's latest file, which makes it the node's latest task (the native
// binary for the cluster's platform is copied into dir/bin, the task naming that copy); en.dir is set.
func (e *Executor) taskFiles(en *entry) ([]file, error) {
	t := *en.task
	binaries := t.Binaries
	t.Binaries = nil
	platform := e.knownPlatform() // known: runnerPath found it before
	if bin, ok := binaries[platform]; ok && t.Kind == executors.KindElectron {
		path, err := e.copyBinary(bin.Hash, bin.Path)
		if err != nil {
			return nil, err
		}
		t.Binaries = map[string]executors.Binary{platform: {Hash: bin.Hash, Path: path}}
	}
	nodeDir := e.nodeDir(en.task)
	name := pathElem(t.ID)
	dir := filepath.Join(nodeDir, name)
	program, err := e.programFile(&t)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(taskFile{Task: t, ProgramFile: program})
	if err != nil {
		return nil, err
	}
	en.dir = dir
	return []file{{filepath.Join(dir, taskName), data, 0o600}, {filepath.Join(nodeDir, latestName), []byte(name + "\n"), 0o600}}, nil
}

// jobScript is the batch's job script: the prologue, then the runner on the array task's task file.
func jobScript(id, runner string, prologue []string, tasks []*entry) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n# govalent batch %s: %d tasks\n", id, len(tasks))
	for _, l := range prologue {
		b.WriteString(l + "\n")
	}
	b.WriteString("tasks=(\n")
	for _, en := range tasks {
		b.WriteString(shellQuote(filepath.Join(en.dir, taskName)) + "\n")
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "exec %s worker --once --task \"${tasks[${SLURM_ARRAY_TASK_ID:-0}]}\"\n", shellQuote(runner))
	return []byte(b.String())
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func newBatchID() string {
	var b [8]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}
