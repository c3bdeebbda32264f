//go:build !linux

package wire

import "os"

// PipeSize and LargePipeSize are Linux's (see pipe_linux.go); elsewhere pipes keep the system's size.
const (
	PipeSize      = 256 << 10
	LargePipeSize = 1 << 20
)

// SetPipeSize does nothing where pipes cannot be resized.
func SetPipeSize(*os.File, int) {}

// FitPipe does nothing where pipes cannot be resized.
func FitPipe(*os.File, int) {}
