package ct

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"strings"

	"github.com/govalent/govalent/ct/wire"
)

// ServeNative is the main of a native worker binary, which package native builds from a shipped program: it
// runs the electron calls a worker process sends on fd 3 and answers each on fd 4, in order, until fd 3 closes.
// entries are the program's top-level funcs, by the names the transport graph calls them. The electrons' own
// output goes to fds 1 and 2, which the worker process captures. A process that serves never dispatches.
func ServeNative(entries map[string]any) {
	servingNative.Store(true)
	os.Unsetenv(wire.NativeServeEnv) // the electrons' own child processes are not workers
	if err := serveNative(entries, os.NewFile(3, "calls"), os.NewFile(4, "replies")); err != nil {
		fmt.Fprintf(os.Stderr, "govalent native worker: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveNative(entries map[string]any, in io.Reader, out io.Writer) error {
	dec := gob.NewDecoder(bufio.NewReaderSize(in, 1<<16))
	bw := bufio.NewWriterSize(out, 1<<16)
	enc := gob.NewEncoder(bw)
	for {
		var c wire.NativeCall
		if err := dec.Decode(&c); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("reading a call: %w", err)
		}
		rep := callNative(entries, &c)
		if err := enc.Encode(&rep); err != nil {
			return fmt.Errorf("writing a reply: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing a reply: %w", err)
		}
	}
}

func callNative(entries map[string]any, c *wire.NativeCall) (rep wire.NativeReply) {
	f, ok := entries[c.Entry]
	if !ok {
		rep.Error = fmt.Sprintf("cannot find %s in the native program", c.Entry)
		return rep
	}
	fn := reflect.ValueOf(f)
	if fn.Kind() != reflect.Func {
		rep.Error = fmt.Sprintf("%s is a %s, not a func", c.Entry, fn.Type())
		return rep
	}
	if c.Files != "" {
		os.Setenv(FilesEnv, c.Files)
		defer os.Unsetenv(FilesEnv)
	}
	in, err := DecodeArgs(fn.Type(), c.Entry, c.Args)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	defer func() {
		if r := recover(); r != nil {
			rep.Stack = string(debug.Stack())
			rep.Error = fmt.Sprintf("panic: %v", r)
			if rep.Cell = panicSite(rep.Stack); rep.Cell != "" {
				rep.Error += " (at " + rep.Cell + ")"
			}
		}
	}()
	out, err := EncodeOutput(fn.Type(), c.Entry, fn.Call(in))
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.Output = out
	return rep
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
