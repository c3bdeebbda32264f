package native

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/ct/wire"
)

const addProgram = "package main\n\nimport (\n\t\"fmt\"\n)\n\n/*line cell1:1:1*/func add(a, b int) int { fmt.Println(a); return a + b }\n"

func newBuilder(t *testing.T, dir string) *Builder {
	t.Helper()
	b, err := NewBuilder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call runs one electron call in a built binary, as a worker process does.
func call(t *testing.T, path string, c wire.NativeCall) *wire.NativeReply {
	t.Helper()
	callsR, callsW, _ := os.Pipe()
	repliesR, repliesW, _ := os.Pipe()
	cmd := exec.Command(path)
	cmd.ExtraFiles = []*os.File{callsR, repliesW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	callsR.Close()
	repliesW.Close()
	bw := bufio.NewWriter(callsW)
	wire.WriteNativeCall(bw, &c)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	rep, err := wire.ReadNativeReply(bufio.NewReader(repliesR))
	if err != nil {
		t.Fatal(err)
	}
	callsW.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the binary should exit cleanly at the end of its calls: %v", err)
	}
	return rep
}

func TestBuildsAreSharedAndCached(t *testing.T) {
	dir := t.TempDir()
	b := newBuilder(t, dir)
	bins := make([]*Binary, 4)
	var wg sync.WaitGroup
	for i := range bins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if bins[i], err = b.Build(context.Background(), addProgram, Host()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, bin := range bins[1:] {
		if bin.Path != bins[0].Path || bin.Hash != bins[0].Hash {
			t.Fatalf("concurrent builds of one program gave different binaries: %+v, %+v", bin, bins[0])
		}
	}
	entries, _ := os.ReadDir(dir + "/bin")
	if len(entries) != 2 { // the binary and its hash
		t.Fatalf("bin holds %d files, want one binary and its hash", len(entries))
	}
	two, _ := codec.Marshal(2)
	forty, _ := codec.Marshal(40)
	var sum int
	if rep := call(t, bins[0].Path, wire.NativeCall{Entry: "add", Args: [][]byte{two, forty}}); rep.Error != "" || codec.Unmarshal(rep.Output, &sum) != nil || sum != 42 {
		t.Fatalf("add(2, 40): %+v", rep)
	}
	// A later builder (a restarted dispatcher) finds it on disk.
	again := newBuilder(t, dir)
	if !again.Cached(addProgram, Host()) {
		t.Fatal("not cached")
	}
	bin, err := again.Build(context.Background(), addProgram, Host())
	if err != nil || bin.BuildTime != 0 || bin.Hash != bins[0].Hash {
		t.Fatalf("cache hit: %+v %v", bin, err)
	}
	if again.Cached(addProgram+"\n// changed\n", Host()) || again.Cached(addProgram, Platform{"linux", "riscv64"}) {
		t.Fatal("another program or platform is not cached")
	}
}

func TestPanicsAndErrorsComeBackWithTheCellLine(t *testing.T) {
	src := "package main\n\nimport \"errors\"\n\n/*line cell2:1:1*/func f(n int) (int, error) {\n\tif n < 0 {\n\t\treturn 0, errors.New(\"negative\")\n\t}\n\tvar xs []int\n\treturn xs[n], nil\n}\n"
	bin, err := newBuilder(t, t.TempDir()).Build(context.Background(), src, Host())
	if err != nil {
		t.Fatal(err)
	}
	if rep := call(t, bin.Path, wire.NativeCall{Entry: "f", Args: [][]byte{[]byte("-1")}}); rep.Error != "negative" || rep.Stack != "" {
		t.Fatalf("returned error: %+v", rep)
	}
	rep := call(t, bin.Path, wire.NativeCall{Entry: "f", Args: [][]byte{[]byte("3")}})
	if !strings.HasPrefix(rep.Error, "panic: runtime error: index out of range [3] with length 0") || rep.Cell != "cell2:6" || !strings.Contains(rep.Error, "(at cell2:6)") || !strings.Contains(rep.Stack, "main.f(") {
		t.Fatalf("panic: %+v", rep)
	}
	if rep := call(t, bin.Path, wire.NativeCall{Entry: "f", Args: [][]byte{[]byte(`"x"`)}}); !strings.Contains(rep.Error, "f argument 1: cannot decode") {
		t.Fatalf("bad argument: %+v", rep)
	}
	if rep := call(t, bin.Path, wire.NativeCall{Entry: "g"}); rep.Error != "cannot find g in the native program" {
		t.Fatalf("unknown entry: %+v", rep)
	}
}

func TestCompileErrorsAreTheUsers(t *testing.T) {
	b := newBuilder(t, t.TempDir())
	_, err := b.Build(context.Background(), addProgram+"/*line cell2:3:1*/func bad() { x := 1 }\n", Host())
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Output != "cell2:3:14: declared and not used: x" {
		t.Fatalf("want the compiler's message at the cell's line, got %v", err)
	}
	_, err = b.Build(context.Background(), "package main\nfunc (", Host())
	if !errors.As(err, &ce) {
		t.Fatalf("a syntax error is the user's: %v", err)
	}
}

func TestFailuresOfGovalentsOwnCodeAreNotTheUsers(t *testing.T) {
	for _, out := range []string{
		"# govalent.native/p/x\n" + generatedFile + ":4:2: undefined: f",
		"# govalent.native/p/x\nvendor/github.com/govalent/govalent/ct/native.go:3:1: syntax error",
		"go: go.mod requires go >= 1.99 (running go 1.26.8; GOTOOLCHAIN=local)",
		"cell1:2:3: undefined: x\n" + generatedFile + ":5:2: undefined: y",
	} {
		var ce *CompileError
		if err := buildFailure(out, errors.New("exit status 1")); errors.As(err, &ce) || !strings.Contains(err.Error(), "a govalent bug") {
			t.Errorf("%q: got %v", out, err)
		}
	}
	err := buildFailure("# govalent.native/p/x\ncell1:2:3: cannot use x (variable of type int) as string value in return statement\n\thave (int)\n\twant (string)", errors.New("exit status 1"))
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.HasSuffix(ce.Output, "\twant (string)") {
		t.Fatalf("got %v", err)
	}
}

func TestGeneratedMainServesTopLevelFuncsAndVars(t *testing.T) {
	main, err := generatedMain("package main\nimport \"fmt\"\ntype T int\nfunc (T) M() {}\nfunc G[X any](x X) X { return x }\nfunc init() {}\nfunc F() { fmt.Println() }\nvar V, _ = func() int { return 1 }, 2\nvar w = 1\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"F": F,`, `"V": V,`, `"w": w,`} {
		if !strings.Contains(string(main), want) {
			t.Errorf("main lacks %s:\n%s", want, main)
		}
	}
	for _, not := range []string{`"M"`, `"G"`, `"init"`, `"_"`} {
		if strings.Contains(string(main), not) {
			t.Errorf("main serves %s:\n%s", not, main)
		}
	}
	if _, err := generatedMain("package main\nfunc main() {}\n"); err == nil {
		t.Fatal("a program with its own main")
	}
}

func TestFetchKeepsOnlyWhatMatchesTheHash(t *testing.T) {
	dir := t.TempDir()
	content := []byte("#!/bin/sh\necho hi\n")
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	opens := 0
	open := func(data []byte) func(context.Context) (io.ReadCloser, error) {
		return func(context.Context) (io.ReadCloser, error) { opens++; return io.NopCloser(bytes.NewReader(data)), nil }
	}
	if _, err := Fetch(context.Background(), dir, hash, open([]byte("#!/bin/sh\nrm -rf /\n"))); err == nil || !strings.Contains(err.Error(), "refusing to run it") {
		t.Fatalf("a binary whose content is not the hash's: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a refused binary left %v", left)
	}
	p, err := Fetch(context.Background(), dir, hash, open(content))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("fetched %s: %v %v", p, st.Mode(), err)
	}
	if _, err := Fetch(context.Background(), dir, hash, open(nil)); err != nil || opens != 2 {
		t.Fatalf("a fetched binary is fetched again (%d opens): %v", opens, err)
	}
	if _, err := Fetch(context.Background(), dir, "../../etc/passwd", open(content)); err == nil {
		t.Fatal("a hash that is a path")
	}
	// A file planted under the hash's name is not trusted: it is replaced by what open gives.
	os.WriteFile(p, []byte("planted"), 0o700)
	if got, err := Fetch(context.Background(), dir, hash, open(content)); err != nil || opens != 3 {
		t.Fatalf("a planted file: %v (%d opens)", err, opens)
	} else if data, _ := os.ReadFile(got); !bytes.Equal(data, content) {
		t.Fatalf("a planted file was kept: %q", data)
	}
	// A directory others may write to is refused.
	shared := t.TempDir()
	os.Chmod(shared, 0o777)
	if _, err := Fetch(context.Background(), shared, hash, open(content)); err == nil || !strings.Contains(err.Error(), "only they can write") {
		t.Fatalf("a directory others can write: %v", err)
	}
}

// A program builds for a platform other than the host's (what a Redis worker on another machine names): a
// statically linked executable for that machine, with the hash it is fetched by.
func TestBuildForAnotherPlatform(t *testing.T) {
	other, machine := Platform{"linux", "arm64"}, elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		other, machine = Platform{"linux", "amd64"}, elf.EM_X86_64
	}
	b, err := NewBuilder(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := b.Build(context.Background(), "package main\n\nfunc Double(x int) int { return 2 * x }\n", other)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Fatalf("built a %v %v for %s", f.Type, f.Machine, other)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("dynamically linked: it needs a loader (and maybe a libc) on the worker")
		}
	}
	if hash, err := FileHash(bin.Path); err != nil || hash != bin.Hash || bin.Platform != other {
		t.Fatalf("hash %s, binary %+v: %v", hash, bin, err)
	}
}

// memShared is a Shared store in memory.
type memShared struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func (m *memShared) Put(_ context.Context, name string, r io.Reader) error {
	data, err := io.ReadAll(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[name] = data
	return err
}

func (m *memShared) Get(_ context.Context, name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.blobs[name]
	if !ok {
		return nil, os.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (m *memShared) Exists(_ context.Context, name string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blobs[name]
	return ok, nil
}

// A dispatcher whose cache is empty finds a program built by another in the shared store (S3), and builds
// nothing; a binary there that is not what its build key names is not used.
func TestBuildsAreKeptInTheSharedStore(t *testing.T) {
	shared := &memShared{blobs: map[string][]byte{}}
	first := newBuilder(t, t.TempDir())
	first.Share(shared)
	built, err := first.Build(context.Background(), addProgram, Host())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := shared.blobs["native/"+built.Hash]; !ok {
		t.Fatalf("the shared store holds %d blobs, not the binary", len(shared.blobs))
	}
	other := newBuilder(t, t.TempDir())
	other.Share(shared)
	other.goCmd = "/nonexistent/go" // it must not build
	bin, err := other.Build(context.Background(), addProgram, Host())
	if err != nil || bin.Hash != built.Hash || bin.BuildTime != 0 {
		t.Fatalf("from the shared store: %+v %v", bin, err)
	}
	if rep := call(t, bin.Path, wire.NativeCall{Entry: "add", Args: [][]byte{[]byte("1"), []byte("2")}}); rep.Error != "" {
		t.Fatalf("the fetched binary: %+v", rep)
	}

	shared.blobs["native/"+built.Hash] = []byte("tampered")
	third := newBuilder(t, t.TempDir())
	third.Share(shared)
	third.goCmd = "/nonexistent/go"
	if _, err := third.Build(context.Background(), addProgram, Host()); err == nil {
		t.Fatal("a tampered binary was used")
	}
}

// The cache keeps to its bound by removing the least recently used binaries, except those used lately; a
// removed one is built again when asked for.
func TestCacheDropsTheLeastRecentlyUsed(t *testing.T) {
	b := newBuilder(t, t.TempDir())
	first, err := b.Build(context.Background(), addProgram, Host())
	if err != nil {
		t.Fatal(err)
	}
	b.limit, b.keep = first.size(t)*3/2, 0 // room for one binary
	old := time.Now().Add(-time.Hour)
	os.Chtimes(first.Path+".sha256", old, old)
	second, err := b.Build(context.Background(), addProgram+"// two\n", Host())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first.Path); err == nil {
		t.Fatal("the least recently used binary stayed past the bound")
	}
	if _, err := os.Stat(second.Path); err != nil {
		t.Fatalf("the new binary: %v", err)
	}
	again, err := b.Build(context.Background(), addProgram, Host())
	if err != nil || again.BuildTime == 0 {
		t.Fatalf("a removed binary is built again: %+v %v", again, err)
	}
	if _, err := os.Stat(second.Path); err == nil {
		t.Fatal("the binary used least recently stayed past the bound")
	}
	b.keep = time.Hour // used just now: it stays, over the bound
	if _, err := b.Build(context.Background(), addProgram+"// three\n", Host()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(again.Path); err != nil {
		t.Fatalf("a binary used within keep was removed: %v", err)
	}
}

func (bin *Binary) size(t *testing.T) int64 {
	st, err := os.Stat(bin.Path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// What a killed build left is swept when the next builder starts; what was built stays.
func TestLeftoversOfAKilledBuildAreSwept(t *testing.T) {
	dir := t.TempDir()
	built, err := newBuilder(t, dir).Build(context.Background(), addProgram, Host())
	if err != nil {
		t.Fatal(err)
	}
	left := []string{built.Path + ".tmp1234abcd99", filepath.Join(dir, "src", "x.tmp42"), filepath.Join(dir, "src", sourceHash(), "p", "deadbeef")}
	for _, l := range left {
		if err := os.MkdirAll(filepath.Dir(l), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(l, nil, 0o600)
	}
	again := newBuilder(t, dir)
	for _, l := range left {
		if _, err := os.Stat(l); err == nil {
			t.Errorf("%s is still there", l)
		}
	}
	if !again.Cached(addProgram, Host()) {
		t.Fatal("the built binary went with the leftovers")
	}
}
