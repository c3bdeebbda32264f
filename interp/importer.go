package interp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"

	"github.com/govalent/govalent"
)

// modulePath is the import path of this module, whose SDK packages are type-checked from the source embedded in
// package govalent (a prebuilt govalent needs no checkout).
const modulePath = "github.com/govalent/govalent"

// typeImporter imports packages for go/types: the SDK from its embedded source, everything else from the export
// data the Go toolchain writes (`go list -export`), asked for in one batch per cell and kept for the process.
type typeImporter struct {
	mu      sync.Mutex
	fset    *token.FileSet
	goCmd   string
	exports map[string]string // import path -> export data file
	failed  map[string]string // import path -> why the toolchain could not give it
	gc      types.Importer
	sdk     map[string]*types.Package
}

var (
	importerOnce   sync.Once
	sharedImporter *typeImporter
	importerErr    error
)

// typeChecker returns the process's importer, or why cells cannot be type-checked (no Go toolchain).
func typeChecker() (*typeImporter, error) {
	importerOnce.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			importerErr = errors.New("cells are not type-checked: no Go toolchain (`go`) on PATH, so errors come from the interpreter and newer Go (range over int and funcs, min/max/clear, per-iteration loop variables) is not rewritten")
			return
		}
		imp := &typeImporter{fset: token.NewFileSet(), goCmd: goCmd, exports: map[string]string{}, failed: map[string]string{}, sdk: map[string]*types.Package{}}
		imp.gc = importer.ForCompiler(imp.fset, "gc", imp.lookup)
		sharedImporter = imp
	})
	return sharedImporter, importerErr
}

func isSDKPackage(p string) bool {
	rel, ok := strings.CutPrefix(p, modulePath+"/")
	if !ok {
		return false
	}
	for _, s := range govalent.SourcePackages {
		if s == rel {
			return true
		}
	}
	return false
}

// prepare asks the toolchain, in one call, for the export data of the paths (and their dependencies) not known
// yet. A path it cannot find is remembered with the reason, which the type check then reports.
func (imp *typeImporter) prepare(paths []string) error {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	return imp.prepareLocked(paths)
}

func (imp *typeImporter) prepareLocked(paths []string) error {
	var missing []string
	for _, p := range paths {
		if p == "unsafe" || p == "C" || isSDKPackage(p) {
			continue
		}
		if _, ok := imp.exports[p]; ok {
			continue
		}
		if _, ok := imp.failed[p]; ok {
			continue
		}
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return nil
	}
	args := append([]string{"list", "-e", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}\t{{with .Error}}{{.Err}}{{end}}"}, missing...)
	cmd := exec.Command(imp.goCmd, args...)
	cmd.Dir = os.TempDir() // outside any module of the user's: the standard library resolves the same everywhere
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[1] != "":
			imp.exports[f[0]] = f[1]
		case f[2] != "":
			imp.failed[f[0]] = f[2]
		}
	}
	for _, p := range missing {
		if _, ok := imp.exports[p]; !ok && imp.failed[p] == "" {
			imp.failed[p] = "the Go toolchain cannot find package " + p
		}
	}
	return nil
}

func (imp *typeImporter) lookup(p string) (io.ReadCloser, error) {
	file, ok := imp.exports[p]
	if !ok {
		if why := imp.failed[p]; why != "" {
			return nil, errors.New(why)
		}
		return nil, fmt.Errorf("package %s: no export data", p)
	}
	return os.Open(file)
}

// Import implements types.Importer for a check that holds imp.mu.
func (imp *typeImporter) Import(p string) (*types.Package, error) {
	if isSDKPackage(p) {
		return imp.importSDK(p)
	}
	if p != "unsafe" {
		if _, ok := imp.exports[p]; !ok && imp.failed[p] == "" {
			// a package the cell did not name: the SDK's dependencies are prepared in a batch beforehand
			if err := imp.prepareLocked([]string{p}); err != nil {
				return nil, err
			}
		}
	}
	return imp.gc.Import(p)
}

// importSDK type-checks an SDK package from the embedded source, without function bodies.
func (imp *typeImporter) importSDK(p string) (*types.Package, error) {
	if pkg, ok := imp.sdk[p]; ok {
		if pkg == nil {
			return nil, fmt.Errorf("import cycle through %s", p)
		}
		return pkg, nil
	}
	imp.sdk[p] = nil
	dir := strings.TrimPrefix(p, modulePath+"/")
	names, err := govalent.GoFiles(dir)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, name := range names {
		src, err := fs.ReadFile(govalent.Source, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(imp.fset, path.Join(dir, name), src, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	var deps []string
	for _, f := range files {
		for _, spec := range f.Imports {
			deps = append(deps, strings.Trim(spec.Path.Value, `"`))
		}
	}
	if err := imp.prepareLocked(deps); err != nil {
		return nil, err
	}
	conf := types.Config{Importer: imp, IgnoreFuncBodies: true}
	pkg, err := conf.Check(p, imp.fset, files, nil)
	if err != nil {
		delete(imp.sdk, p)
		return nil, fmt.Errorf("type-checking the SDK package %s: %w", p, err)
	}
	imp.sdk[p] = pkg
	return pkg, nil
}

// warmUp loads what every cell's check needs (the SDK and its dependencies: a `go list` that may build export
// data) while the user writes the first cell.
func warmUp() {
	imp, err := typeChecker()
	if err != nil {
		return
	}
	imp.mu.Lock()
	defer imp.mu.Unlock()
	for _, p := range []string{SDKPath, DisplayPath} {
		imp.Import(p) // an error is the first cell's to report
	}
}
