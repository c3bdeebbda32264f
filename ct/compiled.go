package ct

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/govalent/govalent/ct/wire"
)

// A compiled Go program (built with `go build`) that imports ct dispatches its own electrons: they have no source
// to ship, so its own executable is their worker binary. Each electron is registered when it is made, at init,
// under the symbol of its func; the program uploads its executable to the dispatcher once (by the sha256 of its
// content), and a worker process starts that executable with wire.NativeServeEnv set, where Main serves the
// registered electrons instead of running main. The rule that makes this work: electrons are package-level
// values, made at init, and main calls ct.Main first.

var compiled struct {
	mu      sync.Mutex
	started bool           // Main has run: electrons made from now on are not package-level
	entries map[string]any // entry -> the electron's func
	symbols map[string]int // func symbol -> electrons registered under it
}

// servingNative is set once this process serves electrons (ServeNative): it must never dispatch, or a worker
// would run the program's dispatch again.
var servingNative atomic.Bool

// Main makes a compiled program's executable the worker binary of its electrons; call it first in main.
//
// Started by a worker process (with GOVALENT_NATIVE_SERVE=1), the program serves its electrons' calls and exits
// in Main, which never returns: main's own work is never done there. Otherwise Main returns at once, and marks
// the end of the program's initialisation: an electron made after it (in main, or in a func main calls) is
// refused at dispatch, since the worker, which never gets past Main, would not have it. Electrons must be
// package-level values (var square = ct.Electron(Square)), made in the same order at every run, which they are
// unless their making depends on the environment or ranges over a map.
func Main() {
	compiled.mu.Lock()
	compiled.started = true
	entries := maps.Clone(compiled.entries)
	compiled.mu.Unlock()
	if os.Getenv(wire.NativeServeEnv) == "1" {
		ServeNative(entries)
	}
}

// registerCompiled records the func of an electron of compiled code and returns the entry a worker calls it by,
// or "" once Main has run. The entry is the func's symbol ("main.add"; "main.init.func1" for a func literal);
// the next electrons of the same symbol (one func made an electron twice, or a func literal made by a helper
// called twice with other captured values) get "#2", "#3"... after it. Package initialisation runs in a fixed
// order in one binary, so the worker's own initialisation registers the same entries for the same funcs.
func registerCompiled(fn reflect.Value) string {
	symbol := "func"
	if f := runtime.FuncForPC(fn.Pointer()); f != nil {
		symbol = f.Name()
	}
	compiled.mu.Lock()
	defer compiled.mu.Unlock()
	if compiled.started {
		return ""
	}
	if compiled.entries == nil {
		compiled.entries, compiled.symbols = map[string]any{}, map[string]int{}
	}
	compiled.symbols[symbol]++
	entry := symbol
	if n := compiled.symbols[symbol]; n > 1 {
		entry += "#" + strconv.Itoa(n)
	}
	compiled.entries[entry] = fn.Interface()
	return entry
}

// compiledEntry is the entry of a node calling c, code of this compiled program, or the reason it cannot be
// dispatched (recorded on b).
func (b *builder) compiledEntry(kind NodeKind, c code, name string) string {
	switch {
	case kind == KindSublattice:
		b.fail(fmt.Errorf("ct: sublattice %s comes from compiled code: a compiled program cannot dispatch sublattices; call their electrons in the lattice itself", name))
	case c.entry == "":
		b.fail(fmt.Errorf("ct: electron %s was made after main called ct.Main(): a compiled program's electrons must be package-level values, made at init, so that its executable, started as their worker, has them too", name))
	case b.compiled == "":
		b.compiled = name
	}
	return c.entry
}

// shipExecutable makes this program's own executable the program of g, whose electrons are compiled code (one
// is called name).
func shipExecutable(g *Graph, name string) error {
	compiled.mu.Lock()
	started := compiled.started
	compiled.mu.Unlock()
	if !started {
		return fmt.Errorf("ct: electron %s has no shippable source: electrons must be declared in notebook cells or files run by govalent run, or be package-level values of a compiled program whose main calls ct.Main() first", name)
	}
	exe, err := ownExecutable()
	if err != nil {
		return fmt.Errorf("ct: reading this program's executable, in which its electrons run: %w", err)
	}
	g.Binaries = map[string]string{runtime.GOOS + "/" + runtime.GOARCH: exe.hash}
	return nil
}

type executable struct {
	path string
	hash string // sha256 of its content
	size int64
}

// ownExecutable is this process's executable. On Linux it is read through /proc/self/exe, which is the running
// image even after a new build replaced the file.
var ownExecutable = sync.OnceValues(func() (executable, error) {
	path, err := os.Executable()
	if _, statErr := os.Stat("/proc/self/exe"); runtime.GOOS == "linux" && statErr == nil {
		path, err = "/proc/self/exe", nil
	}
	if err != nil {
		return executable{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return executable{}, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return executable{}, err
	}
	return executable{path: path, hash: hex.EncodeToString(h.Sum(nil)), size: size}, nil
})

// uploadExecutable sends this program's executable to the dispatcher, when g's electrons run in it and the
// dispatcher does not have it yet.
func (c *Client) uploadExecutable(ctx context.Context, g *Graph) error {
	if len(g.Binaries) == 0 {
		return nil
	}
	exe, err := ownExecutable()
	if err != nil {
		return err
	}
	path := "/api/v1/binaries/" + exe.hash
	resp, err := c.send(ctx, c.HTTP, http.MethodHead, path, nil)
	if err == nil {
		resp.Body.Close()
		return nil
	}
	if apiErr := (*APIError)(nil); !errors.As(err, &apiErr) || apiErr.Code != http.StatusNotFound {
		return err
	}
	f, err := os.Open(exe.path)
	if err != nil {
		return fmt.Errorf("ct: reading this program's executable, in which its electrons run: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(os.Stderr, "govalent: uploading this program's executable (%.1f MB), which runs its electrons, to the dispatcher; once per build\n", float64(exe.size)/1e6)
	resp, err = c.send(ctx, c.HTTP, http.MethodPut, path, f)
	if err != nil {
		return fmt.Errorf("ct: uploading this program's executable: %w", err)
	}
	resp.Body.Close()
	return nil
}
