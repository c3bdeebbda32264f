package kernel

// The session's Go modules: a module directory per kernel (go.mod and go.sum, interp.Options.ModuleDir), which
// %go get and %go mod change, and which an import outside the standard library extends by itself (as GoNB's
// autoget). Cells run in an evaluator that links in the module packages they import (see evalbuild.go): when
// those or the module set change, the kernel builds one and moves the session into it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/govalent/govalent/interp"
	"github.com/govalent/govalent/native"
	"golang.org/x/mod/modfile"
)

// moduleDirEnv passes the evaluator the session's module directory.
const moduleDirEnv = "GOVALENT_MODULE_DIR"

// sessionModule is the module path of a session's go.mod.
const sessionModule = "govalent.session"

// moduleFiles are a session module's go.mod and go.sum as they are at one time, to restore what a failed change
// left.
type moduleFiles struct{ gomod, sum []byte }

func (k *Kernel) readModuleFiles() (moduleFiles, error) {
	gomod, err := os.ReadFile(filepath.Join(k.modDir, "go.mod"))
	if err != nil {
		return moduleFiles{}, err
	}
	sum, err := os.ReadFile(filepath.Join(k.modDir, "go.sum"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return moduleFiles{}, err
	}
	return moduleFiles{gomod, sum}, nil
}

// readGoMod reads the session's module files and parses its go.mod.
func (k *Kernel) readGoMod() (moduleFiles, *modfile.File, error) {
	m, err := k.readModuleFiles()
	if err != nil {
		return m, nil, err
	}
	mf, err := modfile.Parse("go.mod", m.gomod, nil)
	if err != nil {
		return m, nil, fmt.Errorf("the session's go.mod: %w", err)
	}
	return m, mf, nil
}

// restoreModuleFiles writes back what changed only: the type check starts afresh after a change of the files.
func (k *Kernel) restoreModuleFiles(m moduleFiles) {
	now, err := k.readModuleFiles()
	if err == nil && bytes.Equal(now.gomod, m.gomod) && bytes.Equal(now.sum, m.sum) {
		return
	}
	os.WriteFile(filepath.Join(k.modDir, "go.mod"), m.gomod, 0o600)
	if m.sum == nil {
		os.Remove(filepath.Join(k.modDir, "go.sum"))
	} else {
		os.WriteFile(filepath.Join(k.modDir, "go.sum"), m.sum, 0o600)
	}
}

// goCommand finds the Go toolchain, or says plainly that there is none.
func goCommand() (string, error) {
	goCmd, err := native.GoCommand()
	if err != nil {
		return "", errNoToolchain
	}
	return goCmd, nil
}

// runGo runs the go command in the session's module with the user's environment (GOPROXY, GOFLAGS, GONOSUMDB...);
// what it prints is the error's if it fails.
func (k *Kernel) runGo(ctx context.Context, goCmd string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = k.modDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("go %s: %s", strings.Join(args, " "), strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// goMagic is %go get MODULE[@VERSION]... and %go mod [ARGS].
func (k *Kernel) goMagic(ctx context.Context, arg string) error {
	fields := strings.Fields(arg)
	if len(fields) == 0 || fields[0] != "get" && fields[0] != "mod" || fields[0] == "get" && len(fields) == 1 {
		return errors.New("%go get MODULE[@VERSION] adds a module to the session; %go mod shows its go.mod, %go mod edit|tidy|... runs `go mod` on it")
	}
	if fields[0] == "mod" && len(fields) == 1 {
		m, err := k.readModuleFiles()
		if err != nil {
			return fmt.Errorf("%%go mod: %w", err)
		}
		fmt.Fprintf(k.stdoutW.pipe, "%s\n%s", filepath.Join(k.modDir, "go.mod"), m.gomod)
		return nil
	}
	if fields[0] == "mod" && fields[1] == "vendor" {
		// a vendor directory would be used by the go command here and be stale after the next %go get
		return errors.New("%go mod vendor: the session's module is not vendored; its modules come from the module cache (GOMODCACHE) and travel with every dispatch as go.mod and go.sum")
	}
	goCmd, err := goCommand()
	if err != nil {
		return fmt.Errorf("%%go %s: %w", fields[0], err)
	}
	args := fields
	if fields[0] == "mod" && len(fields) > 1 && fields[1] == "edit" {
		if args, err = absoluteReplacements(fields); err != nil {
			return fmt.Errorf("%%go mod edit: %w", err)
		}
	}
	before, err := k.readModuleFiles()
	if err != nil {
		return fmt.Errorf("%%go %s: %w", fields[0], err)
	}
	out, err := k.runGo(ctx, goCmd, args...)
	if err == nil {
		// a go.mod the go command refuses (-go=9.99, a bad toolchain line) would fail every cell that imports
		_, err = k.runGo(ctx, goCmd, "list", "-m")
		if err != nil {
			err = fmt.Errorf("%%go %s left a go.mod that the go command refuses, so go.mod and go.sum are as they were: %w", fields[0], err)
		}
	}
	if err != nil {
		k.restoreModuleFiles(before)
		return err
	}
	if fields[0] == "mod" {
		k.stdoutW.pipe.Write([]byte(out))
	} else if err := k.requireDirectly(fields[1:]); err != nil {
		k.restoreModuleFiles(before)
		return err
	}
	if err := k.reportModuleChange(before, fields[0] == "get"); err != nil {
		k.restoreModuleFiles(before)
		return err
	}
	// a module dropped (@none, -droprequire) takes its packages out of the evaluator
	_, mf, err := k.readGoMod()
	if err == nil {
		err = k.moduleSetChanged(ctx, goCmd, slices.DeleteFunc(slices.Clone(k.modPkgs), func(p string) bool { return !provides(mf, p) }), before)
	}
	if err != nil {
		k.restoreModuleFiles(before)
		return fmt.Errorf("%%go %s: %w; go.mod and go.sum are as they were", fields[0], err)
	}
	return nil
}

// requireDirectly marks the modules of `%go get ARGS` as the session's own requirements: the go command marks
// a module no package of the session imports yet `// indirect`, as if something else needed it.
func (k *Kernel) requireDirectly(args []string) error {
	_, mf, err := k.readGoMod()
	if err != nil {
		return err
	}
	reqs, changed := make([]*modfile.Require, 0, len(mf.Require)), false
	for _, r := range mf.Require {
		r := *r
		for _, a := range args {
			p, _, _ := strings.Cut(a, "@")
			if r.Indirect && !strings.HasPrefix(a, "-") && (p == r.Mod.Path || strings.HasPrefix(p, r.Mod.Path+"/")) {
				r.Indirect, changed = false, true
			}
		}
		reqs = append(reqs, &r)
	}
	if !changed {
		return nil
	}
	mf.SetRequire(reqs)
	data, err := mf.Format()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(k.modDir, "go.mod"), data, 0o600)
}

// unpublishedVersion is the version go.mod requires a module at that a local directory replaces (the go
// command's own choice for one): a proxy may have no version of it.
const unpublishedVersion = "v0.0.0-00010101000000-000000000000"

// absoluteReplacements makes the local directories of `go mod edit -replace` absolute from the kernel's
// directory (the user's), not the session module's.
func absoluteReplacements(args []string) ([]string, error) {
	out := append([]string{}, args...)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if strings.HasPrefix(a, "--") {
			a = a[1:] // the go command takes --flag for -flag
		}
		value, inline := strings.CutPrefix(a, "-replace=")
		if !inline {
			if a != "-replace" || i+1 == len(out) {
				continue
			}
			i++
			value = out[i]
		}
		old, repl, ok := strings.Cut(value, "=")
		if ok && modfile.IsDirectoryPath(repl) && !filepath.IsAbs(repl) {
			abs, err := filepath.Abs(repl)
			if err != nil {
				return nil, err
			}
			value = old + "=" + abs
		}
		if inline {
			out[i] = "-replace=" + value
		} else {
			out[i] = value
		}
	}
	return out, nil
}

// reportModuleChange prints the requirements a change of go.mod added, removed or moved to another version,
// and the replacements; for %go get, that nothing changed if so.
func (k *Kernel) reportModuleChange(before moduleFiles, sayUnchanged bool) error {
	after, err := k.readModuleFiles()
	if err != nil {
		return err
	}
	old, err := modfile.Parse("go.mod", before.gomod, nil)
	if err != nil {
		return err
	}
	cur, err := modfile.Parse("go.mod", after.gomod, nil)
	if err != nil {
		return fmt.Errorf("the session's go.mod: %w", err)
	}
	was := map[string]string{}
	for _, r := range old.Require {
		was[r.Mod.Path] = r.Mod.Version
	}
	var lines []string
	for _, r := range cur.Require {
		switch v, ok := was[r.Mod.Path]; {
		case !ok:
			lines = append(lines, fmt.Sprintf("added %s %s", r.Mod.Path, r.Mod.Version))
		case v != r.Mod.Version:
			lines = append(lines, fmt.Sprintf("%s: %s => %s", r.Mod.Path, v, r.Mod.Version))
		}
		delete(was, r.Mod.Path)
	}
	for p, v := range was {
		lines = append(lines, fmt.Sprintf("removed %s %s", p, v))
	}
	wasReplaced := map[string]string{}
	for _, r := range old.Replace {
		wasReplaced[r.Old.String()] = r.New.String()
	}
	for _, r := range cur.Replace {
		if wasReplaced[r.Old.String()] != r.New.String() {
			lines = append(lines, fmt.Sprintf("replaced %s => %s", r.Old, r.New))
		}
	}
	if len(lines) == 0 && sayUnchanged {
		lines = append(lines, "go.mod is unchanged: the session requires that already")
	}
	for _, l := range lines {
		fmt.Fprintln(k.stdoutW.pipe, l)
	}
	return nil
}

// isModulePackage tells whether an import path is a package of a module (not the standard library's, whose
// paths have no dot in their first element, nor one compiled into every evaluator: the SDK).
func isModulePackage(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return strings.Contains(first, ".") && interp.PackageSymbols(p) == nil &&
		p != govalentModule && !strings.HasPrefix(p, govalentModule+"/")
}

// cellImports lists the import paths of a cell's import declarations.
func cellImports(code string) []string {
	fset := token.NewFileSet()
	var s scanner.Scanner
	s.Init(fset.AddFile("", -1, len(code)), []byte(code), func(token.Position, string) {}, 0)
	var paths []string
	inImport, grouped := false, false
	for {
		_, tok, lit := s.Scan()
		switch {
		case tok == token.EOF:
			return paths
		case tok == token.IMPORT:
			inImport, grouped = true, false
		case !inImport:
		case tok == token.LPAREN:
			grouped = true
		case tok == token.STRING:
			if p, err := strconv.Unquote(lit); err == nil {
				paths = append(paths, p)
			}
			inImport = grouped
		case tok == token.RPAREN:
			inImport = false
		}
	}
}

// prepareModules makes a cell's imports of module packages importable before it runs: a package no module of
// the session provides is added to go.mod (`go get`, as GoNB's autoget), and an evaluator that links in the
// packages takes the current one's place.
func (k *Kernel) prepareModules(ctx context.Context, code string) error {
	var imported, fresh []string
	have := map[string]bool{}
	for _, p := range k.modPkgs {
		have[p] = true
	}
	for _, p := range cellImports(code) {
		if !isModulePackage(p) {
			continue
		}
		imported = append(imported, p)
		if !have[p] {
			fresh = append(fresh, p)
			have[p] = true
		}
	}
	names := selectorNames(code)
	if len(imported) == 0 && len(names) == 0 {
		return nil // most cells: go.mod is not read
	}
	before, mf, err := k.readGoMod()
	if err != nil {
		return err
	}
	for _, p := range k.requiredPackagesNamed(ctx, names, mf, have) {
		imported, fresh = append(imported, p), append(fresh, p)
	}
	if len(imported) == 0 {
		return nil
	}
	// a package of a module replaced by a local directory may have changed since
	if len(fresh) == 0 && !slices.ContainsFunc(imported, func(p string) bool { return localReplacement(mf, p) != "" }) {
		return nil
	}
	goCmd, err := goCommand()
	if err != nil {
		return fmt.Errorf("importing %s: %w", strings.Join(fresh, ", "), err)
	}
	var unprovided, requires []string
	for _, p := range fresh {
		switch mod := localReplacement(mf, p); {
		case provides(mf, p):
		case mod != "":
			requires = append(requires, "-require="+mod+"@"+unpublishedVersion)
		default:
			unprovided = append(unprovided, p)
		}
	}
	if len(unprovided) > 0 || len(requires) > 0 {
		err := error(nil)
		if len(requires) > 0 {
			_, err = k.runGo(ctx, goCmd, append([]string{"mod", "edit"}, sortedUnique(requires)...)...)
		}
		if err == nil && len(unprovided) > 0 {
			_, err = k.runGo(ctx, goCmd, append([]string{"get"}, unprovided...)...)
		}
		if err != nil {
			k.restoreModuleFiles(before)
			return fmt.Errorf("importing %s: %w", strings.Join(fresh, ", "), err)
		}
		if err := k.reportModuleChange(before, false); err != nil {
			k.restoreModuleFiles(before)
			return err
		}
	}
	if err := k.moduleSetChanged(ctx, goCmd, append(append([]string{}, k.modPkgs...), fresh...), before); err != nil {
		k.restoreModuleFiles(before)
		return err
	}
	return nil
}

// requiredPackagesNamed finds the packages a cell uses by name without importing them (`humanize.Comma(1)`)
// that are the root packages of modules go.mod requires directly and the evaluator lacks (after `%go get`):
// the evaluator then links them in, and its auto-import imports them, as it does the standard library's. A
// module whose root package has another name, or none, is asked about once.
func (k *Kernel) requiredPackagesNamed(ctx context.Context, names map[string]bool, mf *modfile.File, have map[string]bool) []string {
	var candidates []string
	for _, r := range mf.Require {
		if name := interp.AssumedPackageName(r.Mod.Path); !r.Indirect && !have[r.Mod.Path] && names[name] && !k.notNamed[r.Mod.String()] {
			candidates = append(candidates, r.Mod.Path)
			k.notNamed[r.Mod.String()] = true // until go list says otherwise below
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	goCmd, err := goCommand()
	if err != nil {
		return nil
	}
	out, err := k.runGo(ctx, goCmd, append([]string{"list", "-e", "-f", "{{.ImportPath}} {{.Name}}"}, candidates...)...)
	if err != nil {
		return nil
	}
	var pkgs []string
	for _, line := range strings.Split(out, "\n") {
		if path, name, ok := strings.Cut(line, " "); ok && names[name] {
			pkgs = append(pkgs, path)
			for _, r := range mf.Require {
				if r.Mod.Path == path {
					delete(k.notNamed, r.Mod.String())
				}
			}
		}
	}
	return pkgs
}

// selectorNames are the identifiers x of a cell's selectors x.y that begin an expression (not b of a.b.c),
// but for the standard library's package names, which are its (errors is not github.com/pkg/errors).
func selectorNames(code string) map[string]bool {
	var s scanner.Scanner
	s.Init(token.NewFileSet().AddFile("", -1, len(code)), []byte(code), func(token.Position, string) {}, 0)
	names := map[string]bool{}
	var prev, last token.Token
	var lastLit string
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			return names
		}
		if tok == token.PERIOD && last == token.IDENT && prev != token.PERIOD && !interp.StandardPackageNames()[lastLit] {
			names[lastLit] = true
		}
		prev, last, lastLit = last, tok, lit
	}
}

// localReplacement is the module path of package p if go.mod replaces that module, at any version, by a
// local directory.
func localReplacement(mf *modfile.File, p string) string {
	for _, r := range mf.Replace {
		if modfile.IsDirectoryPath(r.New.Path) && r.Old.Version == "" && (p == r.Old.Path || strings.HasPrefix(p, r.Old.Path+"/")) {
			return r.Old.Path
		}
	}
	return ""
}

// provides tells whether a module that go.mod requires has the package path p in its path space.
func provides(mf *modfile.File, p string) bool {
	for _, r := range mf.Require {
		if p == r.Mod.Path || strings.HasPrefix(p, r.Mod.Path+"/") {
			return true
		}
	}
	return false
}

// moduleSetChanged runs cells in an evaluator with pkgs, built for the session's go.mod and go.sum as they are
// now, unless the running one is that already: the session moves into it, and what could not be carried
// over is listed on the cell's stderr. If the session cannot move, it goes on in the running one, with go.mod
// and go.sum as they were before the change (before).
func (k *Kernel) moduleSetChanged(ctx context.Context, goCmd string, pkgs []string, before moduleFiles) error {
	if len(pkgs) == 0 && len(k.modPkgs) == 0 {
		return nil // the evaluator links in no module package: go.mod is the type check's alone
	}
	m, err := k.readModuleFiles()
	if err != nil {
		return err
	}
	next, hold, state := k.plainEvaluator, func() {}, "" // the last module package dropped: back to no module
	if len(pkgs) > 0 {
		if next, hold, state, err = k.moduleEvaluator(ctx, goCmd, pkgs, m); err != nil || state == k.modState {
			return err
		}
	}
	k.evMu.Lock()
	prev := k.evalCmd
	k.evalCmd = EvaluatorCommand{Path: next.Path, Args: next.Args, Env: prev.Env}
	k.evMu.Unlock()
	lost, err := k.restart()
	if err != nil {
		k.evMu.Lock()
		k.evalCmd = prev
		k.evMu.Unlock()
		hold()
		// the previous evaluator replays the session against the go.mod it ran with (its cells may not type-check
		// against the new one: that may be why the new evaluator failed)
		k.restoreModuleFiles(before)
		if _, again := k.restart(); again != nil {
			return fmt.Errorf("the new evaluator: %v; nor did the previous one start again: %v", err, again)
		}
		return fmt.Errorf("the new evaluator: %w", err)
	}
	if len(lost) > 0 {
		fmt.Fprintf(k.stderrW.pipe, "govalent: the session moved to an evaluator with the new modules, but for: %s\n", strings.Join(lost, "; "))
	}
	if raised := strings.Join(raisedVersions(m.gomod), ", "); raised != "" && raised != k.raisedNoted {
		fmt.Fprintf(k.stderrW.pipe, "govalent: cells run %s, the versions govalent itself needs; electrons and %%test use go.mod's\n", raised)
		k.raisedNoted = raised // said once
	}
	k.evMu.Lock()
	select {
	case <-k.done:
		hold() // stopped meanwhile: nobody is to let go of it
	default:
		k.evHold()
		k.evHold = hold
	}
	k.evMu.Unlock()
	k.modPkgs, k.modState = sortedUnique(append([]string{}, pkgs...)), state
	k.writeImports()
	return nil
}

// moduleEvaluator builds (or finds in the cache) the evaluator that links in pkgs for the module files m;
// state identifies it, and hold keeps it in the cache until called.
func (k *Kernel) moduleEvaluator(ctx context.Context, goCmd string, pkgs []string, m moduleFiles) (cmd EvaluatorCommand, hold func(), state string, err error) {
	b := &evaluatorBuild{goCmd: goCmd, moduleDir: k.modDir, packages: sortedUnique(append([]string{}, pkgs...)), gomod: m.gomod, sum: m.sum}
	// what local directories replacing modules hold too: an edit there makes a new evaluator
	h := sha256.New()
	if err := hashReplacements(ctx, h, m.gomod, k.modDir); err != nil {
		return cmd, nil, "", err
	}
	state = string(m.gomod) + "\x00" + string(m.sum) + "\x00" + strings.Join(b.packages, "\n") + "\x00" + string(h.Sum(nil))
	if state == k.modState {
		return cmd, nil, state, nil
	}
	b.building = func() {
		fmt.Fprintf(k.stderrW.pipe, "govalent: building an evaluator with %s (a minute or more the first time; then cached)...\n", strings.Join(b.packages, ", "))
	}
	start := time.Now()
	bin, built, hold, err := b.build(ctx)
	if err != nil {
		return cmd, nil, "", fmt.Errorf("building an evaluator with %s: %w", strings.Join(b.packages, ", "), err)
	}
	if built {
		fmt.Fprintf(k.stderrW.pipe, "govalent: built an evaluator with %s in %s\n", strings.Join(b.packages, ", "), roundDuration(time.Since(start)))
	}
	return EvaluatorCommand{Path: bin}, hold, state, nil
}

// writeImports keeps a Go file in the session's module that imports the packages the cells import, so that
// `%go mod tidy` keeps the modules that provide them.
func (k *Kernel) writeImports() {
	var src strings.Builder
	src.WriteString("// The packages the session's cells import, for `go mod tidy`; written by the kernel.\npackage session\n\nimport (\n")
	for _, p := range k.modPkgs {
		fmt.Fprintf(&src, "\t_ %q\n", p)
	}
	src.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(k.modDir, "imports.go"), []byte(src.String()), 0o600); err != nil {
		k.log.Warn("writing the session's imports.go", "err", err)
	}
}
