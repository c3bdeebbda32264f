package kernel

// %test: the session's test functions run natively with go test, in a program holding them and what they use
// (interp.Session.TestProgram), built as native workers are (native.Builder.Test).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/native"
)

var testBuilder struct {
	mu  sync.Mutex
	b   *native.Builder
	dir string // b's: a kernel whose cache directory changed (GOVALENT_EVALUATOR_CACHE) gets a new builder
}

// goTestBuilder returns the builder %test runs go test with, made at the first %test that finds a toolchain.
func goTestBuilder() (*native.Builder, error) {
	testBuilder.mu.Lock()
	defer testBuilder.mu.Unlock()
	cache, err := evaluatorCacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "gotest")
	if testBuilder.b != nil && testBuilder.dir == dir {
		return testBuilder.b, nil
	}
	b, err := native.NewBuilder(dir, nil)
	if err != nil {
		if errors.Is(err, native.ErrNoToolchain) {
			return nil, fmt.Errorf("%%test runs go test, which needs a Go toolchain, and there is none (%v): install Go from https://go.dev/dl/", err)
		}
		return nil, err
	}
	testBuilder.b, testBuilder.dir = b, dir
	return b, nil
}

// test is %test [ARGS]: go test -v ARGS on the session's tests, its output streamed to the cell; without ARGS,
// the benchmarks run too. Failing tests make the cell's error, named TestFailed.
func (k *Kernel) test(ctx context.Context, arg string) error {
	b, err := goTestBuilder()
	if err != nil {
		return err
	}
	rep, err := k.call(ctx, evalMsg{Op: "testprog"})
	if err != nil {
		return err
	}
	if rep.Error != nil {
		return &cellFailure{*rep.Error}
	}
	if len(rep.Matches) == 0 {
		io.WriteString(k.stdoutW.pipe, "%test: the session declares no test to run: no TestXxx(t *testing.T), BenchmarkXxx(b *testing.B), ExampleXxx() or FuzzXxx(f *testing.F) function\n")
		return nil
	}
	var prog ct.Program
	if err := json.Unmarshal(rep.Data, &prog); err != nil {
		return fmt.Errorf("kernel: the evaluator's test program: %w", err)
	}
	for _, n := range prog.Notes {
		fmt.Fprintln(k.stdoutW.pipe, "%test: "+n)
	}
	args := testArgs(arg)
	if len(args) == 0 && slices.ContainsFunc(rep.Matches, func(n string) bool { return strings.HasPrefix(n, "Benchmark") }) {
		args = []string{"-bench", "."} // all of them, as GoNB's %test without flags
	}
	err = b.Test(ctx, prog, args, k.stdoutW.pipe, k.stderrW.pipe)
	var failed *native.TestFailure
	var compile *native.CompileError
	var modules *native.ModuleError
	switch {
	case err == nil || ctx.Err() != nil:
		return err
	case errors.As(err, &failed):
		return failure("TestFailed", "%test: "+failed.Error())
	case errors.As(err, &compile):
		return failure("CompileError", compile.Output)
	case errors.As(err, &modules):
		return failure("ModuleError", modules.Error())
	}
	return fmt.Errorf("%%test: %w", err)
}

func failure(ename, msg string) *cellFailure {
	return &cellFailure{errorContent{EName: ename, EValue: msg, Traceback: []string{"\x1b[0;31m" + ename + "\x1b[0m: " + msg}}}
}

// testArgs splits %test's arguments at blanks, and takes off the quotes around one ('TestA|TestB'), as a shell
// would of such simple words.
func testArgs(arg string) []string {
	args := strings.Fields(arg)
	for i, a := range args {
		if len(a) >= 2 && (a[0] == '\'' || a[0] == '"') && a[len(a)-1] == a[0] {
			args[i] = a[1 : len(a)-1]
		}
	}
	return args
}
