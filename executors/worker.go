package executors

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/govalent/govalent/interp"
)

// request is what the dispatcher sends a worker process; Program travels with the first task that needs it.
type request struct {
	Task    Task   `json:"task"`
	Program string `json:"program,omitempty"`
}

type reply struct {
	ID      string  `json:"id"`
	Outcome Outcome `json:"outcome"`
}

// maxCapture bounds the stdout and stderr kept per task.
const maxCapture = 1 << 20

// ServePipe is the loop of `govalent worker --pipe`: it reads tasks from in, runs them one at a time and writes
// outcomes to out. Output written to the process's stdout and stderr while a task runs (by fmt, os.Stdout,
// or anything else) is captured for that task: fds 1 and 2 are pointed at temporary files.
func ServePipe(in io.Reader, out io.Writer) error {
	w, err := newPipeWorker()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReaderSize(in, 1<<16))
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("worker: reading task: %w", err)
		}
		if req.Program != "" {
			w.programs[req.Task.ProgramHash] = req.Program
		}
		oc := w.run(&req.Task)
		if err := enc.Encode(reply{ID: req.Task.ID, Outcome: oc}); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

type pipeWorker struct {
	stdout, stderr *os.File
	programs       map[string]string
	sessions       map[string]*interp.Session // by program hash
	order          []string                   // least recently loaded first

	mu           sync.Mutex
	goroutineErr string // a panic in an interpreted goroutine of the running task
}

// maxSessions bounds the rebuilt interpreters a worker keeps.
const maxSessions = 8

func newPipeWorker() (*pipeWorker, error) {
	w := &pipeWorker{programs: map[string]string{}, sessions: map[string]*interp.Session{}}
	// Keep Go runtime crash reports on the real stderr (the dispatcher's log) before fd 2 is redirected.
	if saved, err := syscall.Dup(2); err == nil {
		syscall.CloseOnExec(saved) // processes an electron starts must not inherit it
		debug.SetCrashOutput(os.NewFile(uintptr(saved), "stderr"), debug.CrashOptions{})
	}
	var err error
	if w.stdout, err = redirect(1, "govalent-stdout-*"); err != nil {
		return nil, err
	}
	if w.stderr, err = redirect(2, "govalent-stderr-*"); err != nil {
		return nil, err
	}
	return w, nil
}

// redirect points fd at a fresh unlinked temporary file and returns that file.
func redirect(fd int, pattern string) (*os.File, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
		return nil, fmt.Errorf("worker: redirecting fd %d: %w", fd, err)
	}
	return f, nil
}

func resetCapture(f *os.File) {
	f.Truncate(0)
	f.Seek(0, io.SeekStart)
}

func readCapture(f *os.File) string {
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	n := min(st.Size(), maxCapture)
	buf := make([]byte, n)
	k, _ := f.ReadAt(buf, 0)
	s := string(buf[:k])
	if st.Size() > maxCapture {
		s += fmt.Sprintf("\n[govalent: output truncated, %d bytes in all]", st.Size())
	}
	return s
}

func (w *pipeWorker) session(hash string) (*interp.Session, error) {
	if s := w.sessions[hash]; s != nil {
		return s, nil
	}
	src, ok := w.programs[hash]
	if !ok {
		return nil, fmt.Errorf("worker has no program %s", hash)
	}
	s, err := interp.New(interp.Options{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: eofReader{}, OnGoroutinePanic: w.goroutinePanic})
	if err != nil {
		return nil, err
	}
	if err := s.LoadProgram(context.Background(), src); err != nil {
		s.Close()
		return nil, fmt.Errorf("rebuilding the shipped code: %w", err)
	}
	if len(w.order) >= maxSessions {
		old := w.order[0]
		w.order = w.order[1:]
		w.sessions[old].Close()
		delete(w.sessions, old) // the source stays: the dispatcher sends each program only once
	}
	w.sessions[hash] = s
	w.order = append(w.order, hash)
	return s, nil
}

func (w *pipeWorker) goroutinePanic(v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.goroutineErr == "" {
		w.goroutineErr = fmt.Sprintf("panic in a goroutine of the electron: %v", v)
	}
}

func (w *pipeWorker) run(t *Task) (oc Outcome) {
	resetCapture(w.stdout)
	resetCapture(w.stderr)
	w.mu.Lock()
	w.goroutineErr = ""
	w.mu.Unlock()
	oc.Start = time.Now()
	defer func() {
		oc.End = time.Now()
		oc.Stdout, oc.Stderr = readCapture(w.stdout), readCapture(w.stderr)
	}()
	s, err := w.session(t.ProgramHash)
	if err != nil {
		oc.Error = err.Error()
		return oc
	}
	switch t.Kind {
	case "sublattice":
		g, prog, err := s.BuildSublattice(t.Entry, t.Args)
		if err != nil {
			oc.Error = err.Error()
			return oc
		}
		oc.Graph, oc.Program = g, &prog
	default:
		out, err := s.Call(t.Entry, t.Args)
		if err != nil {
			oc.Error = err.Error()
			if te, ok := err.(*interp.TaskError); ok {
				oc.Stack = te.Stack
			}
			return oc
		}
		oc.Output = out
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.goroutineErr != "" {
		oc.Output, oc.Graph, oc.Program, oc.Error = nil, nil, nil, w.goroutineErr
	}
	return oc
}

// eofReader is the stdin of electrons: there is nobody to type.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
