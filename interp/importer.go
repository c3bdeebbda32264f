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
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/govalent/govalent"
	"github.com/govalent/govalent/native"
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
	dir     string            // the session's module (Options.ModuleDir), or "" for the standard library only
	stamp   string            // dir's go.mod and go.sum as they were when the importer was made
	exports map[string]string // import path -> export data file
	failed  map[string]string // import path -> why the toolchain could not give it
	gc      types.Importer
	sdk     map[string]*types.Package
}

var (
	importersMu sync.Mutex
	importers   = map[string]*typeImporter{} // by module directory
	lookGo      = sync.OnceValues(native.GoCommand)
)

// typeChecker returns the process's importer for the session module in dir ("": none), or why cells cannot be
// type-checked (no Go toolchain). A new one takes the place of one whose go.mod or go.sum has changed since.
func typeChecker(dir string) (*typeImporter, error) {
	goCmd, err := lookGo()
	if err != nil {
		return nil, errors.New("cells are not type-checked: no Go toolchain (`go` on PATH, or GOVALENT_GO), so errors come from the interpreter and newer Go (range over int and funcs, min/max/clear, per-iteration loop variables) is not rewritten")
	}
	stamp := moduleStamp(dir)
	importersMu.Lock()
	defer importersMu.Unlock()
	if imp := importers[dir]; imp != nil && imp.stamp == stamp {
		return imp, nil
	}
	imp := &typeImporter{fset: token.NewFileSet(), goCmd: goCmd, dir: dir, stamp: stamp, exports: map[string]string{}, failed: map[string]string{}, sdk: map[string]*types.Package{}}
	imp.gc = importer.ForCompiler(imp.fset, "gc", imp.lookup)
	importers[dir] = imp
	return imp, nil
}

// moduleStamp identifies the state of a module's go.mod and go.sum.
func moduleStamp(dir string) string {
	if dir == "" {
		return ""
	}
	var b strings.Builder
	for _, name := range []string{"go.mod", "go.sum"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil {
			fmt.Fprintf(&b, "%d.%d ", st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
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
	args := append([]string{"list", "-e", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}\t{{with .Error}}{{printf \"%q\" .Err}}{{end}}"}, missing...)
	cmd := exec.Command(imp.goCmd, args...)
	if imp.dir != "" {
		// the session's module, with the user's settings (GOPROXY, GOFLAGS...) to find its modules
		cmd.Dir = imp.dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
	} else {
		cmd.Dir = os.TempDir() // outside any module of the user's: the standard library resolves the same everywhere
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=")
	}
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
			// quoted, since the go command's errors run over lines ("...; to add it:\n\tgo get P")
			why, err := strconv.Unquote(f[2])
			if err != nil {
				why = f[2]
			}
			imp.failed[f[0]] = strings.Join(strings.Fields(why), " ")
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
func warmUp(moduleDir string) {
	imp, err := typeChecker(moduleDir)
	if err != nil {
		return
	}
	imp.mu.Lock()
	defer imp.mu.Unlock()
	for _, p := range []string{SDKPath, DisplayPath} {
		imp.Import(p) // an error is the first cell's to report
	}
}

// moduleGenerics reports a cell's use of a generic function or type of a compiled module package: cells use
// such packages through the symbols extracted from them, and a generic has none (Go compiles it only for the
// type arguments a program uses), so the interpreter could not run the cell.
func moduleGenerics(fset *token.FileSet, info *types.Info) error {
	for id, obj := range info.Uses {
		pkg := obj.Pkg()
		if pkg == nil || !obj.Exported() || obj.Parent() != pkg.Scope() || isSDKPackage(pkg.Path()) ||
			!strings.Contains(strings.Split(pkg.Path(), "/")[0], ".") {
			continue // the standard library's generic packages are interpreted from source
		}
		generic := false
		switch t := obj.Type().(type) {
		case *types.Signature:
			generic = t.TypeParams().Len() > 0
		case *types.Named:
			_, isType := obj.(*types.TypeName)
			generic = isType && t.TypeParams().Len() > 0
		}
		if generic {
			p := fset.Position(id.Pos())
			return &CellError{Cell: p.Filename, Line: p.Line, Col: p.Column, Msg: fmt.Sprintf(
				"%s.%s is generic: cells use module packages compiled, through the symbols extracted from them, and a generic function or type has none (Go compiles it only for the type arguments a program gives it); call it from a non-generic function of your own module (%%go mod edit -replace to a local directory)",
				pkg.Name(), obj.Name())}
		}
	}
	return nil
}
