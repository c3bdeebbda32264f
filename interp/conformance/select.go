// Package conformance runs Go's own test programs ($GOROOT/test, the files marked `// run`) through govalent's
// interpreter, in file mode (the whole file evaluated the way `govalent run` does) and in cell mode (the
// declarations as one cell, the body of main as top-level statements in the next), and compares their combined
// output and exit status with what Go's own runner (cmd/internal/testdir) expects.
//
// Each program runs in a child process (the gotest-conformance command re-executing itself) under a time and
// memory limit, so a program that panics, exits, deadlocks or loops cannot take the runner down.
package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/build"
	"go/build/constraint"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Program is one selected test program.
type Program struct {
	Name string // file name in the test directory, e.g. "helloworld.go"
	Path string
	Want []byte // expected combined output: the .out file beside it, or nothing
	// SHA256 starts the hex SHA-256 of the source: a baseline recorded with another Go's test files shows.
	SHA256 string
}

// Skipped is a `// run` program (or a candidate) left out, with why.
type Skipped struct {
	Name   string
	Reason string
}

// Skip reasons, also the categories counted in the results table.
const (
	skipConstraint = "build constraint excludes this platform"
	skipArgs       = "`// run` with arguments or flags (go command flags, program arguments or other files)"
)

// Select returns the programs of dir (a $GOROOT/test) whose recipe is exactly `// run`, sorted by name, and the
// `// run` programs it leaves out. The recipe is found the way cmd/internal/testdir finds it: the first
// non-empty line that is not a build constraint.
func Select(dir string) ([]Program, []Skipped, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("conformance: no Go files in %s (want $(go env GOROOT)/test)", dir)
	}
	sort.Strings(names)
	var progs []Program
	var skipped []Skipped
	for _, path := range names {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		name := filepath.Base(path)
		action, args := recipe(string(src))
		if action != "run" {
			continue
		}
		if len(args) > 0 {
			skipped = append(skipped, Skipped{name, skipArgs})
			continue
		}
		if !platformMatches(string(src)) {
			skipped = append(skipped, Skipped{name, skipConstraint})
			continue
		}
		want, err := os.ReadFile(strings.TrimSuffix(path, ".go") + ".out")
		if err != nil && !os.IsNotExist(err) {
			return nil, nil, err
		}
		sum := sha256.Sum256(src)
		progs = append(progs, Program{Name: name, Path: path, Want: want, SHA256: hex.EncodeToString(sum[:6])})
	}
	return progs, skipped, nil
}

// recipe returns the action and arguments of a test file's execution recipe.
func recipe(src string) (string, []string) {
	for rest := src; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if constraint.IsGoBuild(line) || constraint.IsPlusBuild(line) {
			continue
		}
		if f := strings.Fields(strings.TrimPrefix(line, "//")); len(f) > 0 {
			return f[0], f[1:]
		}
	}
	return "", nil
}

// platformMatches evaluates the build constraints before the package clause the way cmd/internal/testdir does:
// release tags, goexperiment tool tags, cgo, GOOS, GOARCH, "gc" and "test_run" hold; nothing else.
func platformMatches(src string) bool {
	ctx := build.Default
	match := func(tag string) bool {
		switch {
		case slices.Contains(ctx.ReleaseTags, tag):
			return true
		case strings.HasPrefix(tag, "goexperiment."):
			return slices.Contains(ctx.ToolTags, tag)
		case tag == "cgo":
			return ctx.CgoEnabled
		}
		return tag == ctx.GOOS || tag == ctx.GOARCH || tag == "gc" || tag == "test_run"
	}
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "package ") {
			break
		}
		if expr, err := constraint.Parse(line); err == nil && !expr.Eval(match) {
			return false
		}
	}
	return true
}

// GoEnv returns a variable of `go env`, e.g. GOROOT, whose test directory holds the programs.
func GoEnv(key string) (string, error) {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return "", fmt.Errorf("conformance: go env %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}
