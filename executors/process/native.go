package process

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
)

// nativeChild is a program's native worker binary (package native), started by a worker process and kept for
// the program's next tasks. It shares the worker's fds 1 and 2, so its output is captured like the
// interpreter's; it dies with the worker (same process group, and Pdeathsig), so a time limit or a cancel that
// kills the worker kills it too.
type nativeChild struct {
	cmd    *exec.Cmd
	calls  *os.File
	enc    *gob.Encoder
	dec    *gob.Decoder
	exited chan struct{} // closed when the process has been waited for
	err    error         // how it exited
}

func startNative(path string) (*nativeChild, error) {
	callsR, callsW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repliesR, repliesW, err := os.Pipe()
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
	c := &nativeChild{cmd: cmd, calls: callsW, enc: gob.NewEncoder(callsW), dec: gob.NewDecoder(bufio.NewReaderSize(repliesR, 1<<16)), exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		repliesR.Close()
		close(c.exited)
	}()
	// A call of no entry answers once the program's package initialisation has run: a panic there ends the
	// process, and it is not the first task's time.
	if _, err := c.call("", nil); err != nil {
		return nil, fmt.Errorf("the program's native worker did not start: %w", err)
	}
	return c, nil
}

// call runs one electron. An error means the process died (or could not be talked to) and must be replaced.
func (c *nativeChild) call(entry string, args [][]byte) (wire.NativeReply, error) {
	call := wire.NativeCall{Entry: entry, Args: args, Files: os.Getenv(ct.FilesEnv)}
	var rep wire.NativeReply
	if err := c.enc.Encode(&call); err != nil {
		return rep, c.died()
	}
	if err := c.dec.Decode(&rep); err != nil {
		return rep, c.died()
	}
	return rep, nil
}

// died waits for the process to end and says how it ended.
func (c *nativeChild) died() error {
	c.calls.Close()
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
	c.calls.Close() // ServeNative returns at the end of its input
	select {
	case <-c.exited:
	default:
		go func() { <-c.exited }()
	}
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
