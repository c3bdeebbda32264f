package complete

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// withPath runs the rest of the test with PATH set to dir alone, and with the GOROOT and the parsed docs
// forgotten, so that they are looked up anew through that PATH; both are restored after the test.
func withPath(t *testing.T, dir string) {
	t.Helper()
	t.Setenv("PATH", dir)
	saved := goroot
	goroot = sync.OnceValue(goEnvGOROOT)
	forgetDocs := func() {
		docMu.Lock()
		clear(docCache)
		docMu.Unlock()
	}
	forgetDocs()
	t.Cleanup(func() {
		goroot = saved
		forgetDocs()
	})
}

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

// The standard library's docs come from the GOROOT that `go env GOROOT` reports, asked once and only when
// first needed.
func TestDocsComeFromTheGoCommandsGOROOT(t *testing.T) {
	dir := t.TempDir()
	root, bin, calls := filepath.Join(dir, "goroot"), filepath.Join(dir, "bin"), filepath.Join(dir, "calls")
	writeFile(t, filepath.Join(root, "src", "strings", "strings.go"),
		"package strings\n\n// Repeat is documented by the go command's GOROOT.\nfunc Repeat(s string, count int) string { return s }\n", 0o644)
	writeFile(t, filepath.Join(bin, "go"),
		"#!/bin/sh\n[ \"$*\" = \"env GOROOT\" ] || exit 2\necho >>"+calls+"\necho "+root+"\n", 0o755)
	withPath(t, bin)

	if _, err := os.Stat(calls); err == nil {
		t.Fatal("the go command was run before any documentation was needed")
	}
	found, text := Inspect(nil, "strings.Repeat", 14)
	if want := "func strings.Repeat(s string, count int) string\n\nRepeat is documented by the go command's GOROOT."; !found || text != want {
		t.Errorf("Inspect(strings.Repeat) = %v, %q, want %q", found, text, want)
	}
	// a member the fake source lacks, and a package it lacks, are still described from their symbols
	if _, text := Inspect(nil, "strings.ToUpper", 15); text != "func strings.ToUpper(string) string" {
		t.Errorf("Inspect(strings.ToUpper) = %q", text)
	}
	if _, text := Inspect(nil, "math.MaxInt8", 12); text != "const math.MaxInt8 = 127" {
		t.Errorf("Inspect(math.MaxInt8) = %q", text)
	}
	out, err := os.ReadFile(calls)
	if err != nil || strings.Count(string(out), "\n") != 1 {
		t.Errorf("the go command ran %d times, want once (%v)", strings.Count(string(out), "\n"), err)
	}
}

// With no go command, inspect answers from what the interpreter knows: signatures, and session declarations
// with their docs.
func TestInspectWithoutAGoCommand(t *testing.T) {
	s := newSession(t)
	withPath(t, t.TempDir())
	if goroot() != "" {
		t.Fatalf("goroot() = %q with no go command", goroot())
	}
	tests := []struct{ code, want string }{
		{"strings.Repeat", "func strings.Repeat(string, int) string"},
		{"Hello", "func Hello(name string) string\n\nHello greets name."},
		{"g2", "var g2 = \"x\"\n\ng2 is a string."},
		{"strings", `package strings // import "strings"`},
	}
	for _, tt := range tests {
		if found, text := Inspect(s, tt.code, len(tt.code)); !found || text != tt.want {
			t.Errorf("Inspect(%q) = %v, %q, want %q", tt.code, found, text, tt.want)
		}
	}
}
