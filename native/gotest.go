package native

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/govalent/govalent/ct/wire"
)

// packageDir writes files into a new package directory of a module prepared for prog as its build needs one:
// for a program without modules, <sub>/<name> of the module whose vendor directory holds the SDK (build it with
// -mod=vendor); for one with modules, a module of its own under mod<sub> holding the session's go.mod (made the
// build's: buildGoMod) and go.sum (build it with -mod=readonly). Builds use sub "p" (their directories, in
// p and modp, are swept when a builder starts); go test runs "t", which no builder sweeps, since another
// kernel's may be running. It returns the directory to run the go command in, the package to name to it, and
// what removes the package.
func (b *Builder) packageDir(sub, name string, prog wire.Program, files map[string][]byte) (dir, pkg string, cleanup func(), err error) {
	if prog.GoMod == "" {
		mod, err := b.prepared("", writeModule)
		if err != nil {
			return "", "", nil, err
		}
		pkgDir := filepath.Join(mod, sub, name)
		if err := os.MkdirAll(pkgDir, 0o700); err != nil {
			return "", "", nil, err
		}
		cleanup = func() { os.RemoveAll(pkgDir) }
		if err := writeFiles(pkgDir, files); err != nil {
			cleanup()
			return "", "", nil, err
		}
		return mod, "./" + sub + "/" + name, cleanup, nil
	}
	sdk, err := b.prepared("sdk", writeSDK)
	if err != nil {
		return "", "", nil, err
	}
	gomod, err := buildGoMod(prog.GoMod, sdk)
	if err != nil {
		return "", "", nil, &ModuleError{Output: "the session's go.mod: " + err.Error()}
	}
	if err := os.MkdirAll(filepath.Join(b.dir, "mod"+sub), 0o700); err != nil {
		return "", "", nil, err
	}
	if dir, err = os.MkdirTemp(filepath.Join(b.dir, "mod"+sub), name+".*"); err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	all := map[string][]byte{"go.mod": gomod, "go.sum": []byte(prog.GoSum)}
	for n, data := range files {
		all[n] = data
	}
	if err := writeFiles(dir, all); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dir, ".", cleanup, nil
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// TestFailure is go test reporting that tests failed (or that the test binary failed: a panic, a timeout).
type TestFailure struct {
	Failed []string // the top-level tests, benchmarks and examples that failed, as go test names them
	Status string   // how go test exited
}

func (e *TestFailure) Error() string {
	if len(e.Failed) == 0 {
		return "go test failed (" + e.Status + ")"
	}
	return "failed: " + strings.Join(e.Failed, ", ")
}

// testTimeout bounds a go test run as a whole, its modules' download and build included; go test's own -timeout
// (10m unless the arguments set another) ends a test that hangs before that.
const testTimeout = 30 * time.Minute

// testFile is the file the tested program is written to.
const testFile = "session_test.go"

var testRuns atomic.Int64

// Test runs go test -v with args on prog, whose source is a test file, in a package prepared as BuildProgram
// prepares a build (modules as the program's go.mod and go.sum say), for this machine. go test's output is
// streamed to stdout and stderr. A *CompileError is the user's code failing to compile, a *ModuleError its
// modules not to be had, a *TestFailure tests failing; ending ctx kills go test and what it started.
func (b *Builder) Test(ctx context.Context, prog wire.Program, args []string, stdout, stderr io.Writer) error {
	prog, err := buildable(prog)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-test%d-%d", b.key(prog, Host())[:16], os.Getpid(), testRuns.Add(1))
	dir, pkg, cleanup, err := b.packageDir("t", name, prog, map[string][]byte{testFile: []byte(prog.Source)})
	if err != nil {
		return err
	}
	defer cleanup()
	modFlag := "-mod=vendor"
	if prog.GoMod != "" {
		modFlag = "-mod=readonly"
	}
	runCtx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, b.goCmd, append([]string{"test", modFlag, "-buildvcs=false", "-v", pkg}, args...)...)
	cmd.Dir = dir
	cmd.Env = b.buildEnv(Host(), prog.GoMod != "")
	// the test binary is go test's child: a process group of their own is killed as one
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	results := &testOutput{w: stdout}
	var messages bytes.Buffer // go test's own messages (compile errors): the first of them
	cmd.Stdout = results
	// exec copies stdout and stderr in goroutines of their own: one lock for both, as the caller may pass
	// one writer for the two
	cmd.Stderr = &lockedWriter{mu: &results.mu, w: io.MultiWriter(stderr, &limitedWriter{buf: &messages, n: 64 << 10})}
	runErr := cmd.Run()
	results.flush()
	switch {
	case runErr == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case runCtx.Err() != nil:
		return fmt.Errorf("go test did not end within %s", testTimeout)
	case results.buildFailed:
		if prog.GoMod != "" {
			return moduleBuildFailure(messages.String(), dir, testFile, runErr)
		}
		return buildFailure(messages.String(), runErr)
	}
	status := runErr.Error()
	if cmd.ProcessState != nil {
		status = cmd.ProcessState.String()
	}
	return &TestFailure{Failed: results.failed, Status: status}
}

// testOutput passes go test's standard output on, noting the tests that failed and whether the build did.
type testOutput struct {
	w           io.Writer
	mu          sync.Mutex
	line        []byte // the incomplete last line
	failed      []string
	buildFailed bool
}

func (o *testOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.line = append(o.line, p...)
	for {
		i := bytes.IndexByte(o.line, '\n')
		if i < 0 {
			break
		}
		o.note(string(o.line[:i]))
		o.line = o.line[i+1:]
	}
	if len(o.line) > 4<<10 { // a line this long is no result line of go test's
		o.line = o.line[:0]
	}
	return o.w.Write(p)
}

// lockedWriter writes to w holding mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (o *testOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.note(string(o.line))
}

// note reads one line of go test -v: "--- FAIL: TestX (0.00s)" (subtests are indented), and
// "FAIL\tpkg [build failed]".
func (o *testOutput) note(line string) {
	if rest, ok := strings.CutPrefix(line, "--- FAIL: "); ok {
		if f := strings.Fields(rest); len(f) > 0 {
			o.failed = append(o.failed, f[0])
		}
	}
	if strings.HasPrefix(line, "FAIL\t") && (strings.HasSuffix(line, "[build failed]") || strings.HasSuffix(line, "[setup failed]")) {
		o.buildFailed = true
	}
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	buf *bytes.Buffer
	n   int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
