package process

import (
	"os"
	"syscall"

	"github.com/govalent/govalent/ct/wire"
)

// workerSysProcAttr puts a worker in its own process group (so killing it kills what it started) and has the
// kernel kill it if the dispatcher dies.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// pipe is os.Pipe, of wire.PipeSize where the system allows it.
func pipe() (r, w *os.File, err error) {
	if r, w, err = os.Pipe(); err != nil {
		return nil, nil, err
	}
	wire.SetPipeSize(w, wire.PipeSize)
	return r, w, nil
}
