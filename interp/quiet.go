package interp

import (
	"bytes"
	"io"
	"log"
	"sync"
)

// yaegi reports some internal errors with log.Panic, which writes the message to the standard logger (the
// process's stderr: in a kernel, the running cell's stderr) before panicking. The panic becomes the cell's
// error; the log line is dropped so that nothing of the interpreter's internals reaches the user.
var yaegiLogLines = [][]byte{[]byte("nil type"), []byte("nil reflect type"), []byte("compositeGenerator not implemented")}

// internalLogFilter passes the standard logger's lines through, except yaegi's.
type internalLogFilter struct{ w io.Writer }

func (f internalLogFilter) Write(p []byte) (int, error) {
	line := bytes.TrimRight(p, "\n")
	for _, l := range yaegiLogLines {
		if bytes.HasSuffix(line, l) || bytes.Contains(line, l) && bytes.Contains(l, []byte("not implemented")) {
			return len(p), nil
		}
	}
	return f.w.Write(p)
}

var quietOnce sync.Once

// quietInterpreterLogs installs internalLogFilter on the standard logger, once.
func quietInterpreterLogs() {
	quietOnce.Do(func() { log.SetOutput(internalLogFilter{log.Writer()}) })
}
