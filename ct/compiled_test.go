package ct

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/ct/wire"
)

// adder makes a func literal: the electrons made of what it returns share one symbol, ct.adder.func1 (were it
// inlined, each call would have a closure symbol of its own).
//
//go:noinline
func adder(n int) func(int) int { return func(x int) int { return x + n } }

// Electrons of compiled code, made at init as the rule wants. This file's vars are initialised before
// workflow_test.go's (files in name order), so cAdd is the first electron of addInts.
var (
	cAdd    = Electron(addInts)
	cAddToo = Electron(addInts, Name("addToo")) // the same func again
	cPlus1  = Electron(adder(1))
	cPlus2  = Electron(adder(2))
)

// asCompiledMain makes the test binary a compiled program whose main called ct.Main (not as a worker, so Main
// returns): electrons made from now on are not package-level.
func asCompiledMain(t *testing.T) {
	compiled.mu.Lock()
	was := compiled.started
	compiled.mu.Unlock()
	t.Cleanup(func() {
		compiled.mu.Lock()
		compiled.started = was
		compiled.mu.Unlock()
	})
	Main()
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// A compiled program's graph calls its electrons by their registered entries, and its program is its own
// executable; serving those entries runs each electron's own func, captured values included.
func TestCompiledGraph(t *testing.T) {
	asCompiledMain(t)
	g, prog, err := BuildGraph(lattice(func() Future { return cAdd(cPlus1(1), cAddToo(cPlus2(1), 1)) }))
	if err != nil {
		t.Fatal(err)
	}
	const pkg = "github.com/govalent/govalent/ct."
	entries := []string{g.Nodes[0].Entry, g.Nodes[1].Entry, g.Nodes[2].Entry, g.Nodes[3].Entry}
	if entries[0] != pkg+"adder.func1" || entries[1] != pkg+"adder.func1#2" || !strings.HasPrefix(entries[2], pkg+"addInts#") ||
		entries[3] != pkg+"addInts" || g.Nodes[2].Name != "addToo" {
		t.Fatalf("entries %q", entries)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{runtime.GOOS + "/" + runtime.GOARCH: fileSHA256(t, exe)}
	if !maps.Equal(g.Binaries, want) || prog.Source != "" {
		t.Fatalf("binaries %v, program %q; want %v and no source", g.Binaries, prog.Source, want)
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}

	compiled.mu.Lock()
	served := maps.Clone(compiled.entries)
	compiled.mu.Unlock()
	var calls, replies bytes.Buffer
	bw := bufio.NewWriter(&calls)
	for _, c := range []wire.NativeCall{
		{Entry: entries[0], Args: [][]byte{[]byte("10")}},
		{Entry: entries[1], Args: [][]byte{[]byte("10")}},
		{Entry: entries[2], Args: [][]byte{[]byte("2"), []byte("3")}},
		{Entry: pkg + "nothing"},
	} {
		wire.WriteNativeCall(bw, &c)
	}
	bw.Flush()
	if err := serveNative(served, &calls, &replies); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(&replies)
	for _, want := range []wire.NativeReply{{Output: []byte("11")}, {Output: []byte("12")}, {Output: []byte("5")},
		{Error: "cannot find " + pkg + "nothing in the native program"}} {
		rep, err := wire.ReadNativeReply(br)
		if rep.Output != nil {
			rep.Output, _ = codec.ToJSON(rep.Output)
		}
		if err != nil || string(rep.Output) != string(want.Output) || rep.Error != want.Error {
			t.Fatalf("reply %+v (%v), want %+v", rep, err, want)
		}
	}
}

// What a compiled program cannot dispatch is refused when it dispatches, saying why.
func TestCompiledGraphErrors(t *testing.T) {
	useShipper(t)
	asCompiledMain(t)
	late := Electron(addInts)
	sub := Electron(Lattice(func(x int) Future { return cAdd(x, 1) }))
	for _, tt := range []struct {
		name string
		wf   *Workflow
		want string
	}{
		{"electron made after ct.Main", lattice(func() Future { return late(1, 2) }),
			"ct: electron addInts was made after main called ct.Main(): a compiled program's electrons must be package-level values, made at init, so that its executable, started as their worker, has them too"},
		{"sublattice", lattice(func() Future { return sub(1) }),
			"ct: sublattice lambda comes from compiled code: a compiled program cannot dispatch sublattices; call their electrons in the lattice itself"},
		{"electrons of a notebook and compiled ones", lattice(func() Future { return cAdd(eSquare(1), 2) }),
			"ct: lattice wf mixes electrons of notebook cells with electrons of compiled code (addInts)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := BuildGraph(tt.wf); err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// fakeDispatcher answers the SDK's requests of a compiled dispatch, and keeps the executables uploaded to it.
type fakeDispatcher struct {
	mu         sync.Mutex
	binaries   map[string][]byte
	heads      int
	puts       int
	dispatches []DispatchRequest
}

func (f *fakeDispatcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, `{"error": "token"}`, http.StatusUnauthorized)
		return
	}
	hash, isBinary := strings.CutPrefix(r.URL.Path, "/api/v1/binaries/")
	switch {
	case isBinary && r.Method == http.MethodHead:
		f.heads++
		if f.binaries[hash] == nil {
			w.WriteHeader(http.StatusNotFound)
		}
	case isBinary && r.Method == http.MethodPut:
		f.puts++
		data, _ := io.ReadAll(r.Body)
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hash || r.Header.Get("Content-Type") != "application/octet-stream" {
			http.Error(w, `{"error": "not the content the hash names"}`, http.StatusBadRequest)
			return
		}
		f.binaries[hash] = data
		w.WriteHeader(http.StatusCreated)
	case r.URL.Path == "/api/v1/dispatches" && r.Method == http.MethodPost:
		var req DispatchRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.dispatches = append(f.dispatches, req)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"dispatch_id": "d"}`))
	default:
		http.Error(w, `{"error": "unexpected"}`, http.StatusTeapot)
	}
}

// A compiled program uploads its executable before its first dispatch, and only then.
func TestCompiledDispatchUploadsExecutableOnce(t *testing.T) {
	asCompiledMain(t)
	fake := &fakeDispatcher{binaries: map[string][]byte{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := NewClient(srv.URL)
	c.Token = "tok"
	wf := lattice(func(x int) Future { return cPlus1(x) })
	for i := range 2 {
		if id, err := c.Dispatch(wf, i); err != nil || id != "d" {
			t.Fatalf("dispatch %d: %q, %v", i, id, err)
		}
	}
	exe, _ := os.Executable()
	hash := fileSHA256(t, exe)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.puts != 1 || fake.heads != 2 || fake.binaries[hash] == nil || len(fake.dispatches) != 2 {
		t.Fatalf("%d uploads, %d asked, %d dispatches; want 1, 2, 2", fake.puts, fake.heads, len(fake.dispatches))
	}
	if got := fake.dispatches[1].Graph.Binaries[runtime.GOOS+"/"+runtime.GOARCH]; got != hash {
		t.Fatalf("the dispatch names executable %q, want %q", got, hash)
	}
}

// A process serving electrons never dispatches: a worker would dispatch again what its program dispatched.
func TestNativeWorkerDoesNotDispatch(t *testing.T) {
	asCompiledMain(t)
	servingNative.Store(true)
	t.Cleanup(func() { servingNative.Store(false) })
	_, err := NewClient("http://127.0.0.1:1").Dispatch(lattice(func() Future { return cPlus1(1) }))
	if err == nil || err.Error() != "ct: an electron running in a native worker cannot dispatch" {
		t.Fatalf("error %v", err)
	}
}
