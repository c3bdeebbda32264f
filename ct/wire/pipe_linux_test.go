package wire

import (
	"os"
	"syscall"
	"testing"
)

func pipeSize(t *testing.T, f *os.File) int {
	c, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size uintptr
	c.Control(func(fd uintptr) { size, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, 1032 /* F_GETPIPE_SZ */, 0) })
	return int(size)
}

func TestPipesGrowForLargeValuesOnly(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	SetPipeSize(w, PipeSize)
	if got := pipeSize(t, r); got != PipeSize {
		t.Fatalf("the pipe is %d bytes, want %d", got, PipeSize)
	}
	FitPipe(w, LargePipeSize-1)
	if got := pipeSize(t, r); got != PipeSize {
		t.Fatalf("a small value grew the pipe to %d", got)
	}
	FitPipe(r, LargePipeSize) // either end
	if got := pipeSize(t, w); got != LargePipeSize {
		t.Fatalf("a large value left the pipe at %d, want %d", got, LargePipeSize)
	}
}
