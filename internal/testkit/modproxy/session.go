package modproxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// GreetVersions serves example.org/greet at v1.2.0 (the testdata module: Hello("go") is "hello, GO") and at
// v1.3.0 (Hello("go") is "v1.3.0 says hi to go"), so a test can tell which version a build used. Both have
// Keep and KeepID, which do nothing: a test's cells get compiled versions that hand values to the test.
func GreetVersions(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	v13 := t.TempDir()
	write(t, v13, "go.mod", "module example.org/greet\n\ngo 1.22\n")
	write(t, v13, "greet.go", "package greet\n\nfunc Hello(name string) string { return \"v1.3.0 says hi to \" + name }\n\nfunc Keep(v any) {}\n\nfunc KeepID(id string) {}\n")
	return New(t,
		Module{Path: "example.org/greet", Version: "v1.2.0", Dir: filepath.Join(filepath.Dir(file), "testdata", "greet")},
		Module{Path: "example.org/greet", Version: "v1.3.0", Dir: v13})
}

// UseProxy sets this test's environment to take modules from proxy alone (no checksum database, no GOFLAGS),
// into a module cache of its own.
func UseProxy(t *testing.T, proxy string) {
	cache := t.TempDir()
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", cache).Run() }) // the module cache is read-only
	t.Setenv("GOPROXY", proxy)
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "")
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("GOWORK", "off")
}

// ModuleDir makes a session's module directory (module govalent.session) and runs `go get` for each of
// modules (as the kernel's %go get does), in the environment UseProxy set; it returns the directory.
func ModuleDir(t *testing.T, modules ...string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "go.mod", "module govalent.session\n\ngo 1.22\n")
	GoGet(t, dir, modules...)
	return dir
}

// GoGet runs `go get` for each of modules in the module at dir.
func GoGet(t *testing.T, dir string, modules ...string) {
	t.Helper()
	for _, m := range modules {
		get := exec.Command("go", "get", m)
		get.Dir = dir
		if out, err := get.CombinedOutput(); err != nil {
			t.Fatalf("go get %s: %v\n%s", m, err, out)
		}
	}
}

func write(t testing.TB, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
