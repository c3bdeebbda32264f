// Command gen writes what package stdlib gives the interpreter. It is run by go generate in interp/stdlib.
//
// With -tables, it writes the standard-library symbol tables for the Go toolchain that runs it, with yaegi's
// extract package, as yaegi's own internal/cmd/extract does for yaegi's stdlib package: one go1_NN_<path>.go
// file per package with a symbol table, built only with Go 1.NN or later, and the same for os/exec in
// unrestricted. It removes the tables of other Go versions first.
//
// With -sources, it writes the generic packages' sources in goroot/src, adapted for yaegi (see
// adaptForYaegi), to _yaegi/src, the tree the interpreter reads.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/traefik/yaegi/extract"
)

// skipped are standard packages without a table, and why.
var skipped = map[string]string{
	"os/exec":            "unrestricted: written to the unrestricted package",
	"syscall":            "yaegi's split: its syscall package, per platform",
	"unsafe":             "yaegi's split: its unsafe package",
	"embed":              "//go:embed means nothing to the interpreter",
	"plugin":             "loads compiled code into the process",
	"runtime/cgo":        "no exported API",
	"runtime/race":       "no exported API",
	"runtime/coverage":   "only for binaries built with -cover",
	"time/tzdata":        "imported for its side effect only",
	"testing/cryptotest": "test helper of the crypto packages",
}

// restricted are the symbols yaegi replaces so that interpreted code cannot end the process (see yaegi's
// stdlib/restricted.go); they are left out here and package stdlib takes yaegi's.
var restricted = map[string][]string{
	"os":  {"Exit", "FindProcess"},
	"log": {"Fatal", "Fatalf", "Fatalln", "New", "Logger"},
}

var tableFile = regexp.MustCompile(`^go1_\d+_.*\.go$`)

var (
	tables  = flag.Bool("tables", false, "write the symbol tables (slow: minutes)")
	sources = flag.Bool("sources", false, "write the generic packages' sources adapted for yaegi")
)

// sourcePackages are the generic packages interpreted from source; keep in step with stdlib.SourcePackages.
var sourcePackages = []string{"cmp", "iter", "maps", "slices"}

func main() {
	flag.Parse()
	if *sources {
		for _, pkg := range sourcePackages {
			if err := writeSources("goroot", "_yaegi", pkg); err != nil {
				slog.Error("gen", "package", pkg, "err", err)
				os.Exit(1)
			}
		}
	}
	if !*tables {
		return
	}
	if err := run(); err != nil {
		slog.Error("gen", "err", err)
		os.Exit(1)
	}
}

func run() error {
	prefix, err := versionPrefix(runtime.Version())
	if err != nil {
		return err
	}
	pkgs, err := stdPackages()
	if err != nil {
		return err
	}
	if err := removeTables("."); err != nil {
		return err
	}
	for _, pkg := range pkgs {
		if _, skip := skipped[pkg]; skip {
			continue
		}
		if err := write(".", "stdlib", prefix, pkg); err != nil {
			return err
		}
	}
	if err := removeTables("unrestricted"); err != nil {
		return err
	}
	return write("unrestricted", "unrestricted", prefix, "os/exec")
}

// versionPrefix is the file name prefix of tables for a Go release: go1_26 for go1.26.8.
func versionPrefix(version string) (string, error) {
	parts := strings.Split(version, ".")
	if !strings.HasPrefix(version, "go1.") || len(parts) < 2 {
		return "", fmt.Errorf("tables are written by a Go release, not by %s", version)
	}
	return "go1_" + extract.GetMinor(parts[1]), nil
}

// stdPackages lists the importable standard packages of the toolchain.
func stdPackages() ([]string, error) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "std").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("go list std: %w: %s", err, exit.Stderr)
		}
		return nil, fmt.Errorf("go list std: %w", err)
	}
	var pkgs []string
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "internal") || strings.HasPrefix(pkg, "vendor/") {
			continue
		}
		pkgs = append(pkgs, pkg)
	}
	return pkgs, nil
}

func removeTables(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if tableFile.MatchString(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// plusBuild is the legacy build line extract writes next to the //go:build one gofmt derives from it.
var plusBuild = regexp.MustCompile(`(?m)^// \+build .*\n`)

// write extracts the table of pkg into dir, unless pkg has no symbol the interpreter can take from the binary
// (only generic functions and types): an empty table would hide the generic sources served for the package.
func write(dir, dest, prefix, pkg string) error {
	ext := extract.Extractor{Dest: dest}
	for _, name := range restricted[pkg] {
		ext.Exclude = append(ext.Exclude, "^"+name+"$")
	}
	var buf bytes.Buffer
	if _, err := ext.Extract(pkg, "", &buf); err != nil {
		return fmt.Errorf("extract %s: %w", pkg, err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("reflect.ValueOf(")) {
		slog.Info("no table: only generic symbols", "package", pkg)
		return nil
	}
	src := plusBuild.ReplaceAll(buf.Bytes(), nil)
	name := filepath.Join(dir, prefix+"_"+strings.ReplaceAll(pkg, "/", "_")+".go")
	return os.WriteFile(name, src, 0o644)
}
