package native

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/internal/testkit/modproxy"
)

// greetProgram is what a session ships for an electron that calls a module's function.
const greetProgram = "package main\n\nimport (\n\tgreet \"example.org/greet\"\n)\n\n/*line cell2:1:1*/func Greet(name string) string { return greet.Hello(name) }\n"

// sessionProgram is greetProgram shipped with the go.mod and go.sum of a session that got modules.
func sessionProgram(t *testing.T, modules ...string) wire.Program {
	t.Helper()
	dir := modproxy.ModuleDir(t, modules...)
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	gosum, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
	return wire.Program{Source: greetProgram, GoMod: string(gomod), GoSum: string(gosum)}
}

func greetIn(t *testing.T, bin *Binary) string {
	t.Helper()
	arg, _ := codec.Marshal("go")
	rep := call(t, bin.Path, wire.NativeCall{Entry: "Greet", Args: [][]byte{arg}})
	var out string
	if rep.Error != "" || codec.Unmarshal(rep.Output, &out) != nil {
		t.Fatalf("Greet: %+v", rep)
	}
	return out
}

// The proxy serves v1.2.0 and v1.3.0, which greet differently: each build uses the version its go.mod names,
// and programs differing only in go.mod and go.sum are different binaries.
func TestProgramsWithModulesBuildWithTheSessionsVersions(t *testing.T) {
	modproxy.UseProxy(t, modproxy.GreetVersions(t))
	b := newBuilder(t, t.TempDir())
	v12, v13 := sessionProgram(t, "example.org/greet@v1.2.0"), sessionProgram(t, "example.org/greet@v1.3.0")
	bin12, err := b.BuildProgram(context.Background(), v12, Host())
	if err != nil {
		t.Fatal(err)
	}
	if got := greetIn(t, bin12); got != "hello, GO" {
		t.Fatalf("built with greet v1.2.0, Greet says %q", got)
	}
	if b.CachedProgram(v13, Host()) {
		t.Fatal("a program with another go.mod and go.sum is another binary")
	}
	bin13, err := b.BuildProgram(context.Background(), v13, Host())
	if err != nil {
		t.Fatal(err)
	}
	if got := greetIn(t, bin13); got != "v1.3.0 says hi to go" {
		t.Fatalf("built with greet v1.3.0, Greet says %q", got)
	}
	// go.sum alone changes the key; the builder keeps no module directory behind.
	other := v12
	other.GoSum += "\n"
	if !b.CachedProgram(v12, Host()) || b.CachedProgram(other, Host()) || b.key(v12, Host()) == b.key(other, Host()) {
		t.Fatal("the key of a program with modules must follow its go.sum")
	}
	if left, _ := filepath.Glob(filepath.Join(b.dir, "modp", "*")); len(left) != 0 {
		t.Fatalf("build directories left: %v", left)
	}
}

// A program of the standard library alone keeps its key and its offline build, whatever go.mod comes with it.
func TestModulesOfAProgramWithoutImportsChangeNothing(t *testing.T) {
	b := newBuilder(t, t.TempDir())
	plain := wire.Program{Source: addProgram}
	with := wire.Program{Source: addProgram, GoMod: "module x\n\ngo 1.22\n\nrequire example.org/greet v1.2.0\n", GoSum: "junk"}
	if b.key(mustBuildable(t, with), Host()) != b.key(plain, Host()) {
		t.Fatal("go.mod changed the key of a program that imports no module")
	}
	t.Setenv("GOPROXY", "file:///nonexistent")
	if _, err := b.BuildProgram(context.Background(), with, Host()); err != nil {
		t.Fatalf("a program without modules builds offline: %v", err)
	}
}

func mustBuildable(t *testing.T, p wire.Program) wire.Program {
	t.Helper()
	out, err := buildable(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A module the session's go.mod lacks, one the proxy does not have, a go.sum without its hashes, a program
// without a go.mod: each a ModuleError that names the problem, not a govalent bug, and no build is cached.
func TestModuleProblemsAreTheSessions(t *testing.T) {
	modproxy.UseProxy(t, modproxy.GreetVersions(t))
	b := newBuilder(t, t.TempDir())
	good := sessionProgram(t, "example.org/greet@v1.2.0")
	cases := map[string]struct {
		prog wire.Program
		want string
	}{
		"not required": {wire.Program{Source: greetProgram, GoMod: "module s\n\ngo 1.22\n"}, "cannot find module providing package example.org/greet"},
		"not served": {wire.Program{Source: greetProgram, GoMod: "module s\n\ngo 1.22\n\nrequire example.org/greet v1.9.0\n",
			GoSum: "example.org/greet v1.9.0 h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nexample.org/greet v1.9.0/go.mod h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, "example.org/greet@v1.9.0"},
		"no go.sum":  {wire.Program{Source: greetProgram, GoMod: good.GoMod}, "missing go.sum entry"},
		"no go.mod":  {wire.Program{Source: greetProgram}, "imports example.org/greet, outside the standard library, but came without the go.mod"},
		"bad go.mod": {wire.Program{Source: greetProgram, GoMod: "module s\nrequire (\n"}, "the session's go.mod"},
	}
	for name, c := range cases {
		_, err := b.BuildProgram(context.Background(), c.prog, Host())
		t.Logf("%s: %v", name, err)
		var me *ModuleError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "govalent bug") {
			t.Errorf("%s: want a ModuleError saying %q, got %v", name, c.want, err)
		}
	}
	// The user's code failing to compile against a module is a CompileError at the cell's line.
	bad := good
	bad.Source = strings.Replace(greetProgram, "greet.Hello(name)", "greet.Hello(name, 1)", 1)
	_, err := b.BuildProgram(context.Background(), bad, Host())
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(ce.Output, "cell2:1:") || !strings.Contains(ce.Output, "too many arguments") {
		t.Fatalf("want a compile error at cell2:1, got %v", err)
	}
}

func TestModulePackages(t *testing.T) {
	src := "package main\n\nimport (\n\t\"fmt\"\n\tct \"github.com/govalent/govalent/ct\"\n\tmat \"gonum.org/v1/gonum/mat\"\n\t\"example.org/greet\"\n\t_ \"gonum.org/v1/gonum/mat\"\n)\n"
	if got := strings.Join(ModulePackages(src, ""), ","); got != "example.org/greet,gonum.org/v1/gonum/mat" {
		t.Fatalf("got %q", got)
	}
	if ModulePackages(addProgram, "") != nil {
		t.Fatal("fmt is standard")
	}
	// A local module's path may lack a dot: go.mod tells.
	local := "package main\n\nimport (\n\t\"fmt\"\n\t\"mylib/stats\"\n\t\"mylibrary\"\n)\n"
	if got := strings.Join(ModulePackages(local, "module s\n\nrequire mylib v0.0.0\n\nreplace mylib => ../mylib\n"), ","); got != "mylib/stats" {
		t.Fatalf("got %q", got)
	}
}

// A module replaced by a local directory, its path without a dot, builds offline from that directory.
func TestLocalModulesBuild(t *testing.T) {
	lib := t.TempDir()
	os.MkdirAll(filepath.Join(lib, "stats"), 0o700)
	os.WriteFile(filepath.Join(lib, "go.mod"), []byte("module mylib\n\ngo 1.22\n"), 0o600)
	os.WriteFile(filepath.Join(lib, "stats", "stats.go"), []byte("package stats\n\nfunc Mean(xs ...float64) float64 { s := 0.0; for _, x := range xs { s += x }; return s / float64(len(xs)) }\n"), 0o600)
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "")
	prog := wire.Program{
		Source: "package main\n\nimport (\n\t\"mylib/stats\"\n)\n\n/*line cell1:1:1*/func Mean(a, b float64) float64 { return stats.Mean(a, b) }\n",
		GoMod:  "module govalent.session\n\ngo 1.22\n\nrequire mylib v0.0.0\n\nreplace mylib => " + lib + "\n",
	}
	bin, err := newBuilder(t, t.TempDir()).BuildProgram(context.Background(), prog, Host())
	if err != nil {
		t.Fatal(err)
	}
	one, _ := codec.Marshal(1.0)
	two, _ := codec.Marshal(2.0)
	var mean float64
	if rep := call(t, bin.Path, wire.NativeCall{Entry: "Mean", Args: [][]byte{one, two}}); rep.Error != "" || codec.Unmarshal(rep.Output, &mean) != nil || mean != 1.5 {
		t.Fatalf("Mean(1, 2): %+v", rep)
	}
}

// Module builds find modules as the dispatcher's environment says; builds without modules stay offline.
func TestModuleBuildsUseTheEnvironmentsModuleSettings(t *testing.T) {
	t.Setenv("GOPROXY", "https://proxy.example.com")
	t.Setenv("GOFLAGS", "-modcacherw")
	t.Setenv("GOPRIVATE", "corp.example.com")
	t.Setenv("GOMODCACHE", "/srv/gomodcache")
	b := newBuilder(t, t.TempDir())
	last := func(env []string, name string) string {
		v := "(unset)"
		for _, kv := range env {
			if n, val, _ := strings.Cut(kv, "="); n == name {
				v = val
			}
		}
		return v
	}
	mod, plain := b.buildEnv(Host(), true), b.buildEnv(Host(), false)
	for name, want := range map[string]string{"GOPROXY": "https://proxy.example.com", "GOFLAGS": "-modcacherw", "GOPRIVATE": "corp.example.com", "GOMODCACHE": "/srv/gomodcache", "GIT_TERMINAL_PROMPT": "0", "GOWORK": "off"} {
		if got := last(mod, name); got != want {
			t.Errorf("module build: %s=%q, want %q", name, got, want)
		}
	}
	if last(plain, "GOPROXY") != "off" || last(plain, "GOFLAGS") != "" {
		t.Errorf("a build without modules must stay offline: GOPROXY=%q GOFLAGS=%q", last(plain, "GOPROXY"), last(plain, "GOFLAGS"))
	}
}

// A proxy that never answers fails the build when its time is up, with a ModuleError saying so.
func TestAProxyThatNeverAnswersFailsTheBuild(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stop }))
	defer srv.Close()
	defer close(stop)
	modproxy.UseProxy(t, srv.URL)
	b := newBuilder(t, t.TempDir())
	b.moduleTimeout = 3 * time.Second
	prog := wire.Program{Source: greetProgram, GoMod: "module s\n\ngo 1.22\n\nrequire example.org/greet v1.2.0\n",
		GoSum: "example.org/greet v1.2.0 h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nexample.org/greet v1.2.0/go.mod h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}
	start := time.Now()
	_, err := b.BuildProgram(context.Background(), prog, Host())
	var me *ModuleError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "the build did not end within 3s") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %s", d)
	}
}
