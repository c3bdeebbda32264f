package native

import (
	"fmt"
	"go/parser"
	"go/token"
	"go/version"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/govalent/govalent"
)

// NeedsModule tells whether an import path names a package that only a Go module provides: one outside the
// standard library (whose paths have no dot in their first element) and outside the SDK, which every build has.
func NeedsModule(importPath string) bool {
	first, _, _ := strings.Cut(importPath, "/")
	return strings.Contains(first, ".") && importPath != govalentModule && !strings.HasPrefix(importPath, govalentModule+"/")
}

// ModulePackages lists the packages a program's source imports from modules, sorted: those that NeedsModule,
// and those under a module that goMod (the session's go.mod, if any) requires or replaces, whose path may lack
// a dot (a local module: replace mylib => ../mylib). nil if the source does not parse (the build reports that).
func ModulePackages(source, goMod string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), "program.go", source, parser.ImportsOnly)
	if err != nil {
		return nil
	}
	var modules []string
	if mf, err := modfile.ParseLax("go.mod", []byte(goMod), nil); err == nil {
		for _, r := range mf.Require {
			modules = append(modules, r.Mod.Path)
		}
		for _, r := range mf.Replace {
			modules = append(modules, r.Old.Path)
		}
	}
	var out []string
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil || slices.Contains(out, p) {
			continue
		}
		if NeedsModule(p) || slices.ContainsFunc(modules, func(m string) bool { return p == m || strings.HasPrefix(p, m+"/") }) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// ModuleError is a program whose modules cannot be had: a module missing from go.mod or from the proxy, a go.sum
// without its hashes, versions that conflict. It is the session's to fix (%go get), like a CompileError.
type ModuleError struct {
	Output string // the go command's messages
}

func (e *ModuleError) Error() string {
	return "the Go modules of the program could not be resolved with the session's go.mod and go.sum:\n" + e.Output
}

// moduleBuildFailure is buildFailure for a build in module mode in dir, of the program in file: a *CompileError
// of the user's code or a *ModuleError.
func moduleBuildFailure(out, dir, file string, runErr error) error {
	out = strings.TrimSpace(strings.ReplaceAll(out, dir+string(filepath.Separator), ""))
	// The user's code is all behind line directives naming cells: a message at the program's file is about its
	// imports, that is its modules.
	if failure, ok := buildFailure(out, runErr).(*CompileError); ok && !strings.Contains(failure.Output, file+":") {
		return failure
	}
	return &ModuleError{Output: moduleMessages(out)}
}

// moduleMessages are the go command's messages about modules, without its advice to change the build's own
// module (the session's go.mod is what changes), and with where modules were looked for.
func moduleMessages(out string) string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "go get "+modulePath) || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSuffix(line, "; to add:")
		lines = append(lines, strings.ReplaceAll(line, " (imported by "+modulePath+")", ""))
	}
	return strings.Join(lines, "\n") + "\n(%go get MODULE@VERSION in the session adds a module or its go.sum lines; modules come from GOPROXY=" + goEnv("GOPROXY", "https://proxy.golang.org,direct") + " on the machine that builds)"
}

func goEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// buildGoMod is the session's go.mod made the build module's: renamed, with the SDK required from dir sdk.
// Relative replacement directories are the session's to resolve (Session.Ship makes them absolute).
func buildGoMod(sessionGoMod, sdk string) ([]byte, error) {
	f, err := modfile.Parse("go.mod", []byte(sessionGoMod), nil)
	if err != nil {
		return nil, err
	}
	if err := f.AddModuleStmt(modulePath); err != nil {
		return nil, err
	}
	// A module's go version is at least its requirements': the SDK's, at least.
	sdkGo, err := moduleGoVersion()
	if err != nil {
		return nil, err
	}
	if f.Go == nil || version.Compare("go"+f.Go.Version, "go"+sdkGo) < 0 {
		if err := f.AddGoStmt(sdkGo); err != nil {
			return nil, err
		}
	}
	for _, r := range f.Replace {
		if r.Old.Path == govalentModule {
			if err := f.DropReplace(r.Old.Path, r.Old.Version); err != nil {
				return nil, err
			}
		}
	}
	if err := f.AddRequire(govalentModule, "v0.0.0"); err != nil {
		return nil, err
	}
	if err := f.AddReplace(govalentModule, "", sdk, ""); err != nil {
		return nil, err
	}
	f.Cleanup()
	return f.Format()
}

// writeSDK writes the embedded SDK as a module directory (its go.mod without requirements: the SDK packages
// import the standard library alone, as the vendored build has them).
func writeSDK(dir string) error {
	if err := writeSource(dir); err != nil {
		return err
	}
	goVersion, err := moduleGoVersion()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "go.mod"), []byte(fmt.Sprintf("module %s\n\ngo %s\n", govalentModule, goVersion)), 0o600)
}

// writeSource writes the SDK's non-test Go files under dir, at their paths in the module.
func writeSource(dir string) error {
	return fs.WalkDir(govalent.Source, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") || path == "go.mod" {
			return err
		}
		data, err := fs.ReadFile(govalent.Source, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
}
