package modproxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoGetFromTheProxy: the go command fetches and builds a module the proxy serves, with no network.
func TestGoGetFromTheProxy(t *testing.T) {
	proxy := New(t, Module{Path: "example.org/greet", Version: "v1.2.0", Dir: "testdata/greet"})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module m\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport (\"fmt\"; \"example.org/greet\")\n\nfunc main() { fmt.Println(greet.Hello(\"go\")) }\n"), 0o644)
	cache := t.TempDir()
	// the module cache is read-only; let TempDir remove it
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", cache).Run() })
	env := append(os.Environ(), "GOPROXY="+proxy, "GOSUMDB=off", "GOFLAGS=", "GOMODCACHE="+cache)
	get := exec.Command("go", "get", "example.org/greet@v1.2.0")
	get.Dir, get.Env = dir, env
	if out, err := get.CombinedOutput(); err != nil {
		t.Fatalf("go get: %v\n%s", err, out)
	}
	run := exec.Command("go", "run", ".")
	run.Dir, run.Env = dir, env
	out, err := run.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello, GO" {
		t.Fatalf("go run: %v\n%s", err, out)
	}
}
