package awsfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Function is a deployed function of the fake: its bootstrap program and configured environment.
type Function struct {
	Bootstrap   string
	Environment map[string]string
	Timeout     time.Duration // the function's own timeout; default 1 minute
}

// Lambda fakes the Lambda Invoke API for asynchronous invocations (X-Amz-Invocation-Type: Event). Each
// invocation starts the function's bootstrap as a fresh process (a cold start) that talks to its own fake of
// the Lambda runtime API (AWS_LAMBDA_RUNTIME_API), as a custom runtime does on Lambda.
type Lambda struct {
	URL string

	mu          sync.Mutex
	functions   map[string]Function
	invocations []*Invocation
	wg          sync.WaitGroup
	stop        chan struct{}
}

// Invocation is one asynchronous invocation as a test sees it.
type Invocation struct {
	Function string
	Payload  string
	Status   string // "running", "success" or "error"
	Error    string // the function's error, or why the process ended without answering
	Log      bytes.Buffer
}

// StartLambda serves the fake until the test ends, when invocations still running are killed.
func StartLambda(t testing.TB, functions map[string]Function) *Lambda {
	l := &Lambda{functions: functions, stop: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(l.invoke))
	l.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		close(l.stop)
		l.wg.Wait()
	})
	return l
}

// Invocations returns the state of every invocation so far.
func (l *Lambda) Invocations() []Invocation {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Invocation
	for _, in := range l.invocations {
		out = append(out, Invocation{Function: in.Function, Payload: in.Payload, Status: in.Status, Error: in.Error})
	}
	return out
}

func lambdaError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

// invoke serves POST /2015-03-31/functions/{name}/invocations.
func (l *Lambda) invoke(w http.ResponseWriter, r *http.Request) {
	var name string
	if _, err := fmt.Sscanf(r.URL.Path, "/2015-03-31/functions/%s", &name); err != nil || r.Method != http.MethodPost {
		lambdaError(w, http.StatusNotFound, "UnknownOperationException", "the fake serves only Invoke")
		return
	}
	name = name[:len(name)-len("/invocations")]
	fn, ok := l.functions[name]
	if !ok {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	}
	if r.Header.Get("X-Amz-Invocation-Type") != "Event" {
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "the fake runs only asynchronous (Event) invocations")
		return
	}
	payload, _ := io.ReadAll(r.Body)
	in := &Invocation{Function: name, Payload: string(payload), Status: "running"}
	l.mu.Lock()
	l.invocations = append(l.invocations, in)
	l.mu.Unlock()
	l.wg.Add(1)
	go l.run(fn, in)
	w.WriteHeader(http.StatusAccepted)
}

// run is one cold start: a runtime API that hands out the event once, and the bootstrap process.
func (l *Lambda) run(fn Function, in *Invocation) {
	defer l.wg.Done()
	if fn.Timeout == 0 {
		fn.Timeout = time.Minute
	}
	id := uuid.NewString()
	answered := make(chan struct{})
	var once sync.Once
	finish := func(status, msg string) {
		once.Do(func() {
			l.mu.Lock()
			in.Status, in.Error = status, msg
			l.mu.Unlock()
			close(answered)
		})
	}
	var handed atomic.Bool
	runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/2018-06-01/runtime/invocation/next":
			if handed.Swap(true) { // one event per cold start: wait to be killed
				<-r.Context().Done()
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(fn.Timeout).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:"+in.Function)
			w.Write([]byte(in.Payload))
		case "/2018-06-01/runtime/invocation/" + id + "/response":
			w.WriteHeader(http.StatusAccepted)
			finish("success", "")
		case "/2018-06-01/runtime/invocation/" + id + "/error", "/2018-06-01/runtime/init/error":
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusAccepted)
			finish("error", string(body))
		default:
			http.NotFound(w, r)
		}
	}))
	defer runtime.Close()
	cmd := exec.Command(fn.Bootstrap)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+runtime.Listener.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME="+in.Function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024", "LAMBDA_TASK_ROOT="+os.TempDir())
	for k, v := range fn.Environment {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = &lockedWriter{&l.mu, &in.Log}, &lockedWriter{&l.mu, &in.Log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		finish("error", "starting the bootstrap: "+err.Error())
		return
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-answered:
	case err := <-exited:
		finish("error", fmt.Sprintf("Runtime exited without providing a reason: %v", err))
		return
	case <-time.After(fn.Timeout):
		finish("error", "Task timed out")
	case <-l.stop:
		finish("error", "the fake was stopped")
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // Lambda freezes or ends the sandbox after the answer
	<-exited
}
