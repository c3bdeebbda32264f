package wire

import (
	"os"
	"syscall"
)

// Pipes between the dispatcher, its workers and their native workers start at PipeSize (a quarter of the
// hand-offs of Linux's default 64 KiB) and grow to LargePipeSize once a value of that size crosses them: it
// crosses such a pipe several times faster on a 2-core machine. Not all of them, not at once: a user's pipes share
// a budget (pipe-user-pages-soft, 64 MiB by default) past which every new pipe of theirs, in any program, is
// small, so only the pipes that carry large values take the room.
const (
	PipeSize      = 256 << 10
	LargePipeSize = 1 << 20
)

const fSetPipeSize = 1031 // F_SETPIPE_SZ

// SetPipeSize asks for a pipe of size bytes, at either of its ends; best effort, as a smaller pipe costs time
// only.
func SetPipeSize(f *os.File, size int) {
	c, err := f.SyscallConn() // not f.Fd(), which would make the pipe blocking
	if err != nil {
		return
	}
	c.Control(func(fd uintptr) { syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, uintptr(size)) })
}

// FitPipe grows the pipe at f before a value of size bytes crosses it, if the value is large.
func FitPipe(f *os.File, size int) {
	if size >= LargePipeSize {
		SetPipeSize(f, LargePipeSize)
	}
}
