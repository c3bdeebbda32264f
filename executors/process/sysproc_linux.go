package process

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// workerSysProcAttr puts a worker in its own process group (so killing it kills what it started) and has the
// kernel kill it if the dispatcher dies.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// pipeSize is what pipes between the dispatcher, its workers and their native workers are grown to: a large
// value crosses in a quarter of the hand-offs of the default 64 KiB. Not more: a user's pipes share a budget
// (pipe-user-pages-soft, 64 MiB by default), past which every new pipe of theirs, in any program, is small.
const pipeSize = 256 << 10

// pipe is os.Pipe, grown to pipeSize where the system allows it.
func pipe() (r, w *os.File, err error) {
	if r, w, err = os.Pipe(); err != nil {
		return nil, nil, err
	}
	if c, err := w.SyscallConn(); err == nil { // not w.Fd(), which would make the pipe blocking
		c.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize) }) // best effort: a smaller pipe costs time only
	}
	return r, w, nil
}
