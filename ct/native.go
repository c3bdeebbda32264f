package ct

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/govalent/govalent/ct/wire"
)

// ServeNative is the main of a native worker binary, which package native builds from a shipped program: it
// runs the electron calls a worker process sends on fd 3 and answers each on fd 4, in order, until fd 3 closes.
// entries are the program's top-level funcs, by the names the transport graph calls them. The electrons' own
// output goes to fds 1 and 2, which the worker process captures. A process that serves never dispatches.
func ServeNative(entries map[string]any) {
	servingNative.Store(true)
	os.Unsetenv(wire.NativeServeEnv) // the electrons' own child processes are not workers
	// The processes electrons start do not get the worker's pipes. Calls are read through the poller: a read
	// that waits must not hold up the electron that is running.
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	if err := syscall.SetNonblock(3, true); err != nil {
		fmt.Fprintf(os.Stderr, "govalent native worker: fd 3: %v\n", err)
		os.Exit(1)
	}
	if err := serveNative(entries, os.NewFile(3, "calls"), os.NewFile(4, "replies")); err != nil {
		fmt.Fprintf(os.Stderr, "govalent native worker: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveNative runs the calls read from in, one at a time, and writes each one's reply to out as soon as it
// ends: were the process to end in the next call (an os.Exit, a panic in a goroutine), the worker must know
// which calls finished. Calls are read ahead, so that a skip sent after a call is seen before that call starts.
func serveNative(entries map[string]any, in io.Reader, out io.Writer) error {
	calls := newNativeCalls()
	go calls.fill(in)
	bw := bufio.NewWriterSize(out, 1<<16)
	for {
		c, skipped, ok := calls.next()
		if !ok {
			return calls.err
		}
		var rep wire.NativeReply
		rep.Start = time.Now().UnixNano()
		switch {
		case skipped:
			rep.Skipped = true
		case c.StartBy != 0 && rep.Start > c.StartBy:
			rep.Late = true
		default:
			callNative(entries, c, &rep)
		}
		rep.End = time.Now().UnixNano()
		rep.Stdout, rep.Stderr = fileSize(os.Stdout), fileSize(os.Stderr)
		if f, ok := out.(*os.File); ok {
			wire.FitPipe(f, len(rep.Output))
		}
		wire.WriteNativeReply(bw, &rep)
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing a reply: %w", err)
		}
	}
}

// fileSize is the size of what f is (a worker's capture file), or 0 if it has none.
func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// nativeCalls holds the calls a native worker has read and not yet started.
type nativeCalls struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*wire.NativeCall
	skip    map[uint64]bool // Seqs of calls to skip, sent or still to come
	started uint64          // the Seq of the last call taken
	ended   bool            // the input ended
	err     error           // why, if not at its end
}

func newNativeCalls() *nativeCalls {
	q := &nativeCalls{skip: map[uint64]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *nativeCalls) fill(in io.Reader) {
	r := bufio.NewReaderSize(in, 1<<16)
	for {
		c, err := wire.ReadNativeCall(r)
		q.mu.Lock()
		switch {
		case err == io.EOF:
			q.ended = true
		case err != nil:
			q.ended, q.err = true, err
		case c.Skip > q.started: // a skip may overtake its call; one for a call that started is too late
			q.skip[c.Skip] = true
		case c.Skip == 0:
			q.queue = append(q.queue, c)
		}
		q.cond.Signal()
		q.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// next waits for the next call; skipped tells that it was cancelled. ok is false once the input has ended and
// every call read has been taken.
func (q *nativeCalls) next() (c *wire.NativeCall, skipped, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.queue) == 0 && !q.ended {
		q.cond.Wait()
	}
	if len(q.queue) == 0 {
		return nil, false, false
	}
	c = q.queue[0]
	q.queue[0] = nil
	q.queue = q.queue[1:]
	q.started = max(q.started, c.Seq)
	skipped = q.skip[c.Seq]
	delete(q.skip, c.Seq)
	return c, skipped, true
}

// callNative runs call c and fills rep with its output or how it failed.
func callNative(entries map[string]any, c *wire.NativeCall, rep *wire.NativeReply) {
	f, ok := entries[c.Entry]
	if !ok {
		rep.Error = fmt.Sprintf("cannot find %s in the native program", c.Entry)
		return
	}
	fn := reflect.ValueOf(f)
	if fn.Kind() != reflect.Func {
		rep.Error = fmt.Sprintf("%s is a %s, not a func", c.Entry, fn.Type())
		return
	}
	if c.Files != "" {
		os.Setenv(FilesEnv, c.Files)
		defer os.Unsetenv(FilesEnv)
	}
	defer func() { // first: decoding the arguments runs the user's UnmarshalText too
		if r := recover(); r != nil {
			rep.Stack = string(debug.Stack())
			rep.Error = fmt.Sprintf("panic: %v", r)
			if rep.Cell = panicSite(rep.Stack); rep.Cell != "" {
				rep.Error += " (at " + rep.Cell + ")"
			}
		}
	}()
	in, err := DecodeArgs(fn.Type(), c.Entry, c.Args)
	if err != nil {
		rep.Error = err.Error()
		return
	}
	out, err := EncodeOutput(fn.Type(), c.Entry, fn.Call(in))
	if err != nil {
		rep.Error = err.Error()
		return
	}
	rep.Output = out
}

// panicSite finds, in a stack taken while recovering, the file:line of the frame that panicked: the first
// frame below panic() outside the runtime. Shipped programs carry line directives, so for user code that is
// the cell and line ("cell3:5").
func panicSite(stack string) string {
	lines := strings.Split(stack, "\n")
	below := false
	for i := 1; i+1 < len(lines); i++ {
		fn := lines[i]
		if strings.HasPrefix(fn, "\t") || fn == "" {
			continue
		}
		if !below {
			below = strings.HasPrefix(fn, "panic(")
			continue
		}
		if strings.HasPrefix(fn, "runtime.") {
			continue
		}
		loc := strings.TrimPrefix(lines[i+1], "\t")
		if sp := strings.LastIndexByte(loc, ' '); sp > 0 {
			loc = loc[:sp]
		}
		return loc
	}
	return ""
}
