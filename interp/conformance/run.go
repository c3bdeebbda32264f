package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Status is a program's result in one mode.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip" // not run in this mode (see the reason)
)

// Outcome is a program's result in one mode, with a one-line reason unless it passed.
type Outcome struct {
	Status Status
	Reason string
}

// Runner runs programs in child processes.
type Runner struct {
	// Child is the command that runs one program; Runner appends -child MODE -report FILE PATH (the flags of
	// the gotest-conformance command).
	Child []string
	// Timeout bounds each program.
	Timeout time.Duration
}

// maxOutput bounds the output kept of a program: more than any expected output, little enough for a program
// that prints in a loop.
const maxOutput = 1 << 20

// Run runs p in mode and compares its combined output and exit status with what Go's runner expects.
func (r *Runner) Run(ctx context.Context, p Program, mode Mode) Outcome {
	tmp, err := os.MkdirTemp("", "conformance-")
	if err != nil {
		return Outcome{Fail, err.Error()}
	}
	defer os.RemoveAll(tmp)
	report := filepath.Join(tmp, "report")

	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	args := append(append([]string{}, r.Child[1:]...), "-child", string(mode), "-report", report, p.Path)
	cmd := exec.CommandContext(ctx, r.Child[0], args...)
	cmd.Dir = filepath.Dir(p.Path) // Go's runner runs programs in the test directory
	cmd.Env = append(os.Environ(), "GOENV=off", "GOFLAGS=")
	out := &cappedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out // one pipe: the output interleaved as written
	cmd.WaitDelay = time.Second       // a grandchild holding the pipe open does not hold up the runner
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return Outcome{Fail, fmt.Sprintf("timeout after %v", r.Timeout)}
	}
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return Outcome{Fail, oneLine(err.Error())}
		}
		if msg, rerr := os.ReadFile(report); rerr == nil {
			return Outcome{Fail, oneLine(string(msg))}
		}
		if bytes.Equal(out.Bytes(), p.Want) {
			return Outcome{Fail, exit.String()}
		}
		return Outcome{Fail, fmt.Sprintf("%v: %s", exit, firstDifference(out.Bytes(), p.Want))}
	}
	if !bytes.Equal(out.Bytes(), p.Want) {
		return Outcome{Fail, "output: " + firstDifference(out.Bytes(), p.Want)}
	}
	return Outcome{Status: Pass}
}

// Result is one program's outcome in both modes.
type Result struct {
	Program    string
	SHA256     string // of the program's source, as in Program
	File, Cell Outcome
}

// RunAll runs every program in both modes, runtime.GOMAXPROCS(0) children at a time; done is called after each
// program (for progress) and may be nil. Results are in the order of progs.
func (r *Runner) RunAll(ctx context.Context, progs []Program, done func(Result)) []Result {
	results := make([]Result, len(progs))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				res := r.RunBoth(ctx, progs[i])
				results[i] = res
				if done != nil {
					mu.Lock()
					done(res)
					mu.Unlock()
				}
			}
		})
	}
	for i := range progs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// RunBoth runs p in file mode and in cell mode.
func (r *Runner) RunBoth(ctx context.Context, p Program) Result {
	return Result{
		Program: p.Name,
		File:    r.Run(ctx, p, FileMode),
		Cell:    r.Run(ctx, p, CellMode),
		SHA256:  p.SHA256,
	}
}

// firstDifference describes the first line where got and want differ.
func firstDifference(got, want []byte) string {
	g, w := strings.SplitAfter(string(got), "\n"), strings.SplitAfter(string(want), "\n")
	for i := 0; ; i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) && i >= len(w) {
			return fmt.Sprintf("line %d: got %s, want %s", i+1, quoteLine(gl), quoteLine(wl))
		}
	}
}

func quoteLine(s string) string {
	if s == "" {
		return "end of output"
	}
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// oneLine makes s fit in a cell of the results table.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 240
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// cappedBuffer keeps the first max bytes written to it and drops the rest, so that the child keeps running
// (and meets its time limit) instead of failing on a closed pipe. os/exec writes to it from one goroutine at a
// time when it is both Stdout and Stderr, and is done with it when Wait returns.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte { return b.buf.Bytes() }
