package dispatcher_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/builtins"
	"github.com/govalent/govalent/internal/testkit/workerbin"
	"github.com/govalent/govalent/interp"
	nativebuild "github.com/govalent/govalent/native"
)

// workerBinary is the govalent binary the embedded executors start as worker processes.
var workerBinary string

// testTier is the tier electrons run in: GOVALENT_TEST_TIER=interpreted runs the suite in the interpreter,
// otherwise electrons run native (and a missing toolchain fails the tests, rather than quietly interpreting).
var testTier = map[bool]string{true: "interpreted", false: "native"}[os.Getenv("GOVALENT_TEST_TIER") == "interpreted"]

// native tells whether electrons run as compiled Go in this run of the suite.
func native() bool { return testTier == "native" }

// TestMain calls ct.Main first: the test binary is a compiled program whose electrons (compiled_test.go) run in
// its own executable, which a worker starts to serve them.
func TestMain(m *testing.M) {
	ct.Main()
	workerbin.Main(m, &workerBinary)
}

// testExecutors builds the built-in executors as `govalent start` does, with two pool processes of the test
// binary and the given [executors.NAME] tables.
func testExecutors(t *testing.T, settings map[string]map[string]any) map[string]executors.Executor {
	t.Helper()
	execs, err := builtins.New(builtins.Config{Workers: 2, WorkerCommand: []string{workerBinary, "worker", "--pipe"},
		Settings: settings, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return execs
}

type env struct {
	t    *testing.T
	d    *dispatcher.Dispatcher
	url  string
	dir  string
	sess *interp.Session
	out  *bytes.Buffer
}

// newEnv starts a dispatcher with real worker processes, an HTTP server on loopback, and an interpreter
// session whose ct calls go to it.
func newEnv(t *testing.T) *env {
	t.Helper()
	e, _ := startEnv(t, dispatcher.Config{})
	return e
}

// startEnv is newEnv with cfg (its unset data dir, executors, body limit and logger filled in); stop ends the
// dispatcher before the test does.
func startEnv(t *testing.T, cfg dispatcher.Config) (e *env, stop func()) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Executors == nil {
		cfg.Executors = testExecutors(t, nil)
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 8 << 20
	}
	if cfg.Native == "" {
		cfg.Native = map[bool]string{true: dispatcher.NativeAlways, false: dispatcher.NativeNever}[native()]
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	d, err := dispatcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
			d.Close()
		}
	}
	t.Cleanup(stop)
	t.Setenv("GOVALENT_DISPATCHER", srv.URL)
	var out bytes.Buffer
	s, err := interp.New(interp.Options{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &env{t: t, d: d, url: srv.URL, dir: cfg.DataDir, sess: s, out: &out}, stop
}

// cell evaluates Go source in the session and fails the test on error.
func (e *env) cell(src string) interp.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := e.sess.Eval(ctx, src)
	if err != nil {
		e.t.Fatalf("cell failed: %v\n--- cell ---\n%s\n--- output ---\n%s", err, src, e.out.String())
	}
	return r
}

// cellErr evaluates a cell that must fail and returns its error.
func (e *env) cellErr(src string) error {
	e.t.Helper()
	_, err := e.sess.Eval(context.Background(), src)
	if err == nil {
		e.t.Fatalf("cell should have failed:\n%s", src)
	}
	return err
}

// value evaluates an expression and returns its value.
func (e *env) value(expr string) any {
	e.t.Helper()
	r := e.cell(expr)
	if !r.Value.IsValid() {
		return nil
	}
	return r.Value.Interface()
}

// result evaluates an expression of type *ct.Result.
func (e *env) result(expr string) *ct.Result {
	e.t.Helper()
	res, ok := e.value(expr).(*ct.Result)
	if !ok || res == nil {
		e.t.Fatalf("%s is not a *ct.Result", expr)
	}
	return res
}

func (e *env) client() *ct.Client { return ct.NewClient(e.url) }

// fileSHA256 is the hash by which executors name a binary they upload or copy.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	h, err := nativebuild.FileHash(path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
