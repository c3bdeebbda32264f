// Package awsfake has local fakes of the AWS Batch and Lambda HTTP APIs for tests: they are not AWS, only the
// parts of the wire protocols the govalent executors use, served on 127.0.0.1, and they run what a job or an
// invocation asks for as a real local process, with the environment an AWS container gets (the job id, the
// region, the credentials and endpoints of this process, which stand in for the task role).
package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Batch fakes the Batch REST-JSON API: registerjobdefinition, submitjob, describejobs and terminatejob.
type Batch struct {
	URL string
	// Binaries maps a container command's first word (e.g. "govalent") to the local program that runs it.
	Binaries map[string]string
	// Queues are the job queues that exist; submitting to another one is a ClientException.
	Queues []string
	// WorkDir holds each job's working directory, empty as in a fresh container.
	WorkDir string
	// Stop takes the service away (as an outage would) and kills its jobs; it runs when the test ends.
	Stop func()

	mu   sync.Mutex
	defs map[string]*jobDef // by name and by ARN
	jobs map[string]*batchJob
	wg   sync.WaitGroup
}

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type containerProps struct {
	Image       string     `json:"image,omitempty"`
	Command     []string   `json:"command,omitempty"`
	Environment []keyValue `json:"environment,omitempty"`
}

type jobDef struct {
	Name      string         `json:"jobDefinitionName"`
	ARN       string         `json:"jobDefinitionArn"`
	Revision  int            `json:"revision"`
	Container containerProps `json:"containerProperties"`
}

type batchJob struct {
	ID, Name, Queue string
	Status          string
	StatusReason    string
	ExitCode        *int
	Command         []string
	Env             []string
	Log             bytes.Buffer
	proc            *exec.Cmd
	terminated      bool
}

// StartBatch serves the fake until the test ends, when every job still running is killed.
func StartBatch(t testing.TB, binaries map[string]string, queues ...string) *Batch {
	b := &Batch{Binaries: binaries, Queues: queues, WorkDir: t.TempDir(), defs: map[string]*jobDef{}, jobs: map[string]*batchJob{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/registerjobdefinition", b.register)
	mux.HandleFunc("POST /v1/submitjob", b.submit)
	mux.HandleFunc("POST /v1/describejobs", b.describe)
	mux.HandleFunc("POST /v1/terminatejob", b.terminate)
	srv := httptest.NewServer(mux)
	b.URL = srv.URL
	b.Stop = sync.OnceFunc(func() {
		srv.Close()
		b.mu.Lock()
		for _, j := range b.jobs {
			if j.proc != nil && j.Status == "RUNNING" {
				syscall.Kill(-j.proc.Process.Pid, syscall.SIGKILL)
			}
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	t.Cleanup(b.Stop)
	return b
}

// Jobs returns a copy of each job's state, for assertions.
func (b *Batch) Jobs() []BatchJobState {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []BatchJobState
	for _, j := range b.jobs {
		out = append(out, BatchJobState{ID: j.ID, Name: j.Name, Status: j.Status, Reason: j.StatusReason, Command: j.Command, Log: j.Log.String()})
	}
	return out
}

// BatchJobState is a job as a test sees it.
type BatchJobState struct {
	ID, Name, Status, Reason, Log string
	Command                       []string
}

func clientError(w http.ResponseWriter, format string, args ...any) {
	w.Header().Set("X-Amzn-ErrorType", "ClientException")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": "ClientException", "message": fmt.Sprintf(format, args...)})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (b *Batch) register(w http.ResponseWriter, r *http.Request) {
	var d jobDef
	if err := json.NewDecoder(r.Body).Decode(&d); err != nil || d.Name == "" || d.Container.Image == "" {
		clientError(w, "bad job definition: %v", err)
		return
	}
	b.mu.Lock()
	if prev := b.defs[d.Name]; prev != nil {
		d.Revision = prev.Revision + 1
	} else {
		d.Revision = 1
	}
	d.ARN = fmt.Sprintf("arn:aws:batch:us-east-1:000000000000:job-definition/%s:%d", d.Name, d.Revision)
	b.defs[d.Name], b.defs[d.ARN] = &d, &d
	b.mu.Unlock()
	reply(w, map[string]any{"jobDefinitionName": d.Name, "jobDefinitionArn": d.ARN, "revision": d.Revision})
}

func (b *Batch) submit(w http.ResponseWriter, r *http.Request) {
	var in struct {
		JobName, JobQueue, JobDefinition string
		ContainerOverrides               containerProps
		Timeout                          struct{ AttemptDurationSeconds int }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		clientError(w, "bad request: %v", err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !contains(b.Queues, in.JobQueue) {
		clientError(w, "JobQueue %s not found", in.JobQueue)
		return
	}
	def := b.defs[in.JobDefinition]
	if def == nil {
		clientError(w, "JobDefinition %s not found", in.JobDefinition)
		return
	}
	cmd := in.ContainerOverrides.Command
	if len(cmd) == 0 {
		cmd = def.Container.Command
	}
	bin := b.Binaries[firstWord(cmd)]
	if bin == "" {
		clientError(w, "the fake has no program for the command %q", cmd)
		return
	}
	j := &batchJob{ID: uuid.NewString(), Name: in.JobName, Queue: in.JobQueue, Status: "RUNNING", Command: cmd}
	j.Env = append(os.Environ(), "AWS_BATCH_JOB_ID="+j.ID, "AWS_BATCH_JQ_NAME="+in.JobQueue, "AWS_BATCH_JOB_ATTEMPT=1")
	for _, kv := range append(def.Container.Environment, in.ContainerOverrides.Environment...) {
		j.Env = append(j.Env, kv.Name+"="+kv.Value)
	}
	j.proc = exec.Command(bin, cmd[1:]...)
	j.proc.Env, j.proc.Stdout, j.proc.Stderr = j.Env, &lockedWriter{&b.mu, &j.Log}, &lockedWriter{&b.mu, &j.Log}
	j.proc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	j.proc.Dir = filepath.Join(b.WorkDir, j.ID)
	err := os.Mkdir(j.proc.Dir, 0o755)
	if err == nil {
		err = j.proc.Start()
	}
	if err != nil {
		j.Status, j.StatusReason = "FAILED", "CannotStartContainerError: "+err.Error()
	} else {
		b.wg.Add(1)
		go b.wait(j, time.Duration(in.Timeout.AttemptDurationSeconds)*time.Second)
	}
	b.jobs[j.ID] = j
	reply(w, map[string]string{"jobId": j.ID, "jobName": j.Name, "jobArn": "arn:aws:batch:us-east-1:000000000000:job/" + j.ID})
}

func (b *Batch) wait(j *batchJob, timeout time.Duration) {
	defer b.wg.Done()
	var timer *time.Timer
	timedOut := false
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() {
			b.mu.Lock()
			timedOut = true
			b.mu.Unlock()
			syscall.Kill(-j.proc.Process.Pid, syscall.SIGKILL)
		})
	}
	err := j.proc.Wait()
	if timer != nil {
		timer.Stop()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	code := j.proc.ProcessState.ExitCode()
	j.ExitCode = &code
	switch {
	case j.terminated:
		j.Status = "FAILED" // StatusReason is the terminate reason
	case timedOut:
		j.Status, j.StatusReason = "FAILED", "Job attempt duration exceeded timeout"
	case err != nil:
		j.Status, j.StatusReason = "FAILED", "Essential container in task exited"
	default:
		j.Status = "SUCCEEDED"
	}
}

func (b *Batch) describe(w http.ResponseWriter, r *http.Request) {
	var in struct{ Jobs []string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		clientError(w, "bad request: %v", err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []map[string]any{}
	for _, id := range in.Jobs {
		j := b.jobs[id]
		if j == nil {
			continue // Batch leaves unknown ids out
		}
		c := map[string]any{"command": j.Command, "logStreamName": "govalent-worker/default/" + j.ID}
		if j.ExitCode != nil {
			c["exitCode"] = *j.ExitCode
		}
		out = append(out, map[string]any{"jobId": j.ID, "jobName": j.Name, "jobQueue": j.Queue, "status": j.Status,
			"statusReason": j.StatusReason, "container": c})
	}
	reply(w, map[string]any{"jobs": out})
}

func (b *Batch) terminate(w http.ResponseWriter, r *http.Request) {
	var in struct{ JobID, Reason string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		clientError(w, "bad request: %v", err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	j := b.jobs[in.JobID]
	if j == nil {
		clientError(w, "job %s not found", in.JobID)
		return
	}
	if j.Status == "RUNNING" && !j.terminated {
		j.terminated, j.StatusReason = true, in.Reason
		syscall.Kill(-j.proc.Process.Pid, syscall.SIGKILL)
	}
	reply(w, map[string]any{})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func firstWord(cmd []string) string {
	if len(cmd) == 0 {
		return ""
	}
	return strings.TrimSpace(cmd[0])
}

// lockedWriter appends a process's output to a job's log under the fake's lock.
type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}
