package process

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/filetransfer"
)

// nativeChild is a program's native worker binary (package native), started by a worker process and kept for
// the program's next tasks. It shares the worker's fds 1 and 2, so its output is captured like the
// interpreter's; it dies with the worker (same process group, and Pdeathsig), so a time limit or a cancel that
// kills the worker kills it too.
type nativeChild struct {
	cmd *exec.Cmd
	seq uint64 // of the last call numbered; only the task loop numbers calls

	mu    sync.Mutex // over the calls: the task loop sends them, and the inbox's reader sends skips
	calls *os.File
	bw    *bufio.Writer

	replies     *bufio.Reader
	repliesPipe *replyPipe
	exited      chan struct{} // closed when the process has been waited for
	err         error         // how it exited
}

func startNative(path string) (*nativeChild, error) {
	callsR, callsW, err := pipe()
	if err != nil {
		return nil, err
	}
	repliesR, repliesW, err := pipe()
	if err != nil {
		callsR.Close()
		callsW.Close()
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Stdin = nil // /dev/null: there is nobody to type
	// A compiled program's own executable serves its electrons, rather than running its main, when it sees this
	// (ct.Main).
	cmd.Env = append(os.Environ(), wire.NativeServeEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{callsR, repliesW} // fds 3 and 4, as ct.ServeNative expects
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	callsR.Close()
	repliesW.Close()
	if err != nil {
		callsW.Close()
		repliesR.Close()
		return nil, fmt.Errorf("starting the program's native worker: %w", err)
	}
	pipe := &replyPipe{f: repliesR}
	c := &nativeChild{cmd: cmd, calls: callsW, bw: bufio.NewWriterSize(callsW, 1<<16),
		replies: bufio.NewReaderSize(pipe, 1<<16), repliesPipe: pipe, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		pipe.ended()
		close(c.exited)
	}()
	// A call of no entry answers once the program's package initialisation has run: a panic there ends the
	// process, and it is not the first task's time.
	if _, err := c.call("", nil); err != nil {
		c.close()
		return nil, fmt.Errorf("the program's native worker did not start: %w", err)
	}
	return c, nil
}

// number gives the next call its Seq.
func (c *nativeChild) number() uint64 {
	c.seq++
	return c.seq
}

// send buffers call seq of entry; flush sends what is buffered. A failure to send shows when the reply is
// awaited: the process is gone.
func (c *nativeChild) send(seq uint64, entry string, args [][]byte, startBy time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The files that arrived for it, when the worker ran the call's file transfers (a call with transfers is
	// sent on its own).
	call := wire.NativeCall{Seq: seq, Entry: entry, Args: args, Files: os.Getenv(ct.FilesEnv)}
	if !startBy.IsZero() {
		call.StartBy = startBy.UnixNano()
	}
	for _, a := range args {
		wire.FitPipe(c.calls, len(a))
	}
	wire.WriteNativeCall(c.bw, &call)
}

func (c *nativeChild) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bw.Flush()
}

// skip cancels call seq, sent earlier, unless it has started.
func (c *nativeChild) skip(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wire.WriteNativeCall(c.bw, &wire.NativeCall{Skip: seq})
	c.bw.Flush()
}

// receive reads the reply to the oldest call not yet answered. An error means the process died (or could not
// be talked to) and must be replaced.
func (c *nativeChild) receive() (*wire.NativeReply, error) {
	rep, err := wire.ReadNativeReply(c.replies)
	if err != nil {
		return nil, c.died()
	}
	return rep, nil
}

// call runs one electron, with no call in flight.
func (c *nativeChild) call(entry string, args [][]byte) (*wire.NativeReply, error) {
	c.send(c.number(), entry, args, time.Time{})
	c.flush()
	return c.receive()
}

// died waits for the process to end and says how it ended.
func (c *nativeChild) died() error {
	c.mu.Lock()
	c.calls.Close()
	c.mu.Unlock()
	<-c.exited
	var exit *exec.ExitError
	if errors.As(c.err, &exit) && exit.ExitCode() >= 0 {
		code := exit.ExitCode()
		return fmt.Errorf("the electron's native process exited with status %d (what os.Exit(%d) does)", code, code)
	}
	if c.err == nil {
		return fmt.Errorf("the electron's native process exited with status 0 (what os.Exit(0) does)")
	}
	return fmt.Errorf("the electron's native process ended: %v", c.err)
}

func (c *nativeChild) close() {
	c.mu.Lock()
	c.calls.Close() // ServeNative returns at the end of its input
	c.mu.Unlock()
	go func() {
		<-c.exited
		c.repliesPipe.f.Close()
	}()
}

// replyPipe reads the replies of a native worker. Once the process has exited, what it wrote is all there is
// to read: a read that would wait (a process it started may hold the pipe open) is the end instead. The pipe is
// not closed then, for the replies it holds may not have been read yet: a call that ended just before the
// process did has its outcome.
type replyPipe struct {
	f      *os.File
	exited atomic.Bool
}

func (p *replyPipe) Read(b []byte) (int, error) {
	if !p.exited.Load() {
		n, err := p.f.Read(b)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
	}
	raw, err := p.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	if cerr := raw.Control(func(fd uintptr) { // the pipe is in non-blocking mode (os.Pipe)
		for n, err = syscall.Read(int(fd), b); err == syscall.EINTR; n, err = syscall.Read(int(fd), b) {
		}
	}); cerr != nil {
		return 0, cerr
	}
	switch {
	case err == syscall.EAGAIN || n == 0 && err == nil:
		return 0, io.EOF
	case err != nil:
		return 0, err
	}
	return n, nil
}

// ended tells that the process has exited.
func (p *replyPipe) ended() {
	p.exited.Store(true)
	p.f.SetReadDeadline(time.Now()) // wakes a read that waits
}

// streamable tells whether task t runs in its program's native worker with further tasks sent on ahead of it
// (see streamNative), and in which: an electron with a native binary for this platform, and no file transfers to
// make around it.
func streamable(t *executors.Task) (executors.Binary, bool) {
	bin, ok := t.Binaries[executors.Platform]
	_, files := t.Settings[filetransfer.SettingKey]
	return bin, ok && t.Kind == executors.KindElectron && !files
}

// streamNative runs the tasks at the head of the inbox that bin's native worker runs (streamable), the first of
// them at least: it sends their calls on ahead, up to pipelineDepth, and more as calls end, while it reads the
// replies in order and answers each task, so that the native worker goes from one call to the next without
// waiting for this process. Each outcome has the call's own time, as the native worker measured it, and
// for output what was written to fds 1 and 2 from the end of the call before it (or the start of the stream) to
// its own end, by the sizes the native worker found then. A task cancelled before its call started, or whose
// start-by had passed, does not start. When the native worker dies, the task it was running fails and the ones
// sent after it run in a new one.
func (w *pipeWorker) streamNative(bin executors.Binary, tasks *taskInbox, replies *replyWriter) error {
	w.stdout.begin()
	w.stderr.begin()
	start := time.Now()
	c, err := w.native(bin)
	if err != nil {
		req, skipped, _ := tasks.next()
		w.learn(req)
		oc := cancelledNow()
		if !skipped {
			oc = w.nativeStartFailed(err, start)
		}
		return replies.write(reply{ID: req.Task.ID, Outcome: oc}, req.MaxReply, tasks.empty())
	}
	accept := func(t *executors.Task) bool {
		b, ok := streamable(t)
		return ok && b.Hash == bin.Hash
	}
	var window []sentCall // sent, in order; the first one's reply is the next
	lastEnd := start      // of the last call answered
	for {
		// Past recycleAt the capture files wait for the calls in flight to end, and are emptied by the next stream.
		if len(window) <= refillAt && !w.stdout.full() && !w.stderr.full() {
			n := len(window)
			window = tasks.forward(c, accept, pipelineDepth, window)
			for _, s := range window[n:] {
				w.learn(s.req)
				if s.seq != 0 {
					c.send(s.seq, s.req.Task.Entry, s.req.Task.Args, s.req.StartBy)
				}
			}
			if len(window) > n {
				c.flush()
			}
		}
		if len(window) == 0 {
			return nil
		}
		s := window[0]
		window = window[1:]
		oc := cancelledNow()
		var died error
		if s.seq != 0 {
			var rep *wire.NativeReply
			if rep, died = c.receive(); died == nil {
				oc = w.nativeOutcome(rep)
				lastEnd = oc.End
			} else {
				w.dropNative(bin.Hash)
				tasks.putBack(window) // they never started: the next stream runs them in a new native worker
				window = nil
				oc = executors.Outcome{Start: lastEnd, End: time.Now(), Stdout: w.stdout.read(), Stderr: w.stderr.read()}
				if s.sent.After(lastEnd) {
					oc.Start = s.sent
				}
				oc.ErrorKind, died = w.nativeDeath(died, "panic in a goroutine of the electron")
				oc.Error = died.Error()
			}
		}
		tasks.answered(s.req.Task.ID)
		now := len(window) == 0 && tasks.empty()
		if err := replies.write(reply{ID: s.req.Task.ID, Outcome: oc}, s.req.MaxReply, now); err != nil || died != nil {
			return err // after a death, the next stream starts a new native worker
		}
	}
}

// refillAt is how few calls a stream has in flight before it sends more: waiting until then, rather than
// sending each task as it comes, lets the native worker find many calls at once, and wake up less often.
const refillAt = pipelineDepth / 2

// sentCall is a task of a stream: sent to the native worker as call seq, or, if seq is 0, skipped before that.
type sentCall struct {
	req  *request
	seq  uint64
	sent time.Time
}

// nativeOutcome is the outcome of a call that the native worker answered.
func (w *pipeWorker) nativeOutcome(rep *wire.NativeReply) executors.Outcome {
	oc := executors.Outcome{Start: time.Unix(0, rep.Start), End: time.Unix(0, rep.End),
		Stdout: w.stdout.between(w.stdout.start, rep.Stdout), Stderr: w.stderr.between(w.stderr.start, rep.Stderr)}
	w.stdout.start, w.stderr.start = rep.Stdout, rep.Stderr
	switch {
	case rep.Skipped:
		oc.Cancelled = true
	case rep.Late:
		oc.Unstarted = true
	case rep.Error != "":
		oc.Error, oc.Stack, oc.ErrorKind, oc.ErrorCell = rep.Error, rep.Stack, executors.ErrorUser, cellLine(rep.Cell)
	default:
		oc.Output = rep.Output
	}
	return oc
}

// nativeStartFailed is the outcome of a task whose program's native worker, started at start, did not start.
func (w *pipeWorker) nativeStartFailed(err error, start time.Time) executors.Outcome {
	oc := executors.Outcome{Start: start}
	oc.ErrorKind, err = w.nativeDeath(err, "panic while the program initialised")
	oc.Error = err.Error()
	oc.End = time.Now()
	oc.Stdout, oc.Stderr = w.stdout.read(), w.stderr.read()
	return oc
}

// callNative runs an electron task in its program's native worker c and fills oc with how it went.
func (w *pipeWorker) callNative(c *nativeChild, hash string, t *executors.Task, oc *executors.Outcome) ([]byte, error) {
	rep, err := c.call(t.Entry, t.Args)
	if err != nil {
		w.dropNative(hash)
		oc.ErrorKind, err = w.nativeDeath(err, "panic in a goroutine of the electron")
		return nil, err
	}
	if rep.Error != "" {
		oc.Stack, oc.ErrorKind, oc.ErrorCell = rep.Stack, executors.ErrorUser, cellLine(rep.Cell)
		return nil, fmt.Errorf("%s", rep.Error)
	}
	return rep.Output, nil
}

// nativeDeath says why a native worker died: a panic it did not recover (in a goroutine of the electron, or
// while the program initialised) ends its process, as it would end a Go program, and its report is on the
// captured stderr; anything else (os.Exit, a crash) is the process ending.
func (w *pipeWorker) nativeDeath(err error, panicked string) (executors.ErrorKind, error) {
	if msg := goroutinePanic(w.stderr.read()); msg != "" {
		return executors.ErrorUser, fmt.Errorf("%s: %s", panicked, msg)
	}
	return executors.ErrorCrash, err
}

// goroutinePanic is the value of the panic a Go runtime crash report on stderr starts with, or "".
func goroutinePanic(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if v, ok := strings.CutPrefix(line, "panic: "); ok {
			return strings.TrimSuffix(v, " [recovered]")
		}
	}
	return ""
}

// cellSite matches a panic site in the user's cells, the form Outcome.ErrorCell has.
var cellSite = regexp.MustCompile(`^cell\d+:\d+$`)

// cellLine keeps a panic site that is in the user's cells ("cell3:5").
func cellLine(site string) string {
	if cellSite.MatchString(site) {
		return site
	}
	return ""
}

// native returns the running native worker of a binary, starting it if need be.
func (w *pipeWorker) native(bin executors.Binary) (*nativeChild, error) {
	hash := bin.Hash
	if c := w.natives[hash]; c != nil {
		select {
		case <-c.exited:
			w.dropNative(hash)
		default:
			return c, nil
		}
	}
	c, err := startNative(bin.Path)
	if err != nil {
		return nil, err
	}
	if len(w.nativeOrder) >= maxSessions {
		w.dropNative(w.nativeOrder[0])
	}
	w.natives[hash] = c
	w.nativeOrder = append(w.nativeOrder, hash)
	return c, nil
}

func (w *pipeWorker) dropNative(hash string) {
	if c := w.natives[hash]; c != nil {
		c.close()
		delete(w.natives, hash)
	}
	for i, h := range w.nativeOrder {
		if h == hash {
			w.nativeOrder = append(w.nativeOrder[:i], w.nativeOrder[i+1:]...)
			break
		}
	}
}

// stopNatives ends every native worker this worker started.
func (w *pipeWorker) stopNatives() {
	for hash := range w.natives {
		w.dropNative(hash)
	}
}
