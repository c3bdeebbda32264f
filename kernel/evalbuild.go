package kernel

// Building an evaluator that links in the compiled packages of a session's Go modules. yaegi cannot interpret
// most modules from source (gonum's assembly has no Go body), so cells import them as compiled symbols, which
// yaegi's extract package writes as Go files registering into interp.Symbols. The evaluator binary is built
// in a module that requires the session's modules and govalent (written from the source embedded in this
// binary), and is cached by everything that goes into it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/govalent/govalent"
	"github.com/govalent/govalent/native"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

const (
	govalentModule = "github.com/govalent/govalent"
	// buildModule is the module path of the module an evaluator is built in.
	buildModule = "govalent.evaluator"
)

// evaluatorBuild is what an evaluator is built from: the session's go.mod and go.sum, and the module packages
// its cells import.
type evaluatorBuild struct {
	goCmd      string
	moduleDir  string   // the session's module
	packages   []string // sorted
	gomod, sum []byte
	building   func() // called when the cache does not have it, before it is built
}

// key names the build in the cache: a hash of all that goes into it, so that a kernel reuses an evaluator
// another built with the same modules.
func (b *evaluatorBuild) key(ctx context.Context, settings string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nsource %s\n", settings, evaluatorSourceHash())
	for _, part := range [][]byte{b.gomod, b.sum, []byte(strings.Join(b.packages, "\n"))} {
		fmt.Fprintf(h, "%d\n", len(part))
		h.Write(part)
	}
	if err := hashReplacements(ctx, h, b.gomod, b.moduleDir); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// hashReplacements adds to h what the local directories that go.mod replaces modules by hold now, which an
// evaluator is built from. A directory that is missing or holds no go.mod is only named: the go command fails
// on it if a cell uses the module, and ignores it if none does.
func hashReplacements(ctx context.Context, h io.Writer, gomod []byte, moduleDir string) error {
	mf, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return err
	}
	for _, r := range mf.Replace {
		if !modfile.IsDirectoryPath(r.New.Path) {
			continue
		}
		dir := localPath(moduleDir, r.New.Path)
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
			fmt.Fprintf(h, "no module at %s\n", dir)
			continue
		}
		if err := hashTree(ctx, h, dir); err != nil {
			return fmt.Errorf("the replacement %s => %s: %w", r.Old.Path, r.New.Path, err)
		}
	}
	return nil
}

// hashTree adds the paths and contents of the files of a module's directory tree (not its hidden or vendored
// parts, nor the modules nested in it) to h.
func hashTree(ctx context.Context, h io.Writer, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() && p != dir {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(data))
		h.Write(data)
		return nil
	})
}

func localPath(moduleDir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(moduleDir, p)
}

// evaluatorSourceHash is a hash of govalent's embedded evaluator source.
var evaluatorSourceHash = sync.OnceValue(func() string { return govalent.TreeHash(govalent.EvaluatorSource)[:32] })

// evaluatorCacheDir is where built evaluators and govalent's source are kept, made if missing. The kernel runs
// the binaries kept there, so it must be the user's alone: another user who could write there could put one in
// an evaluator's place.
func evaluatorCacheDir() (string, error) {
	dir := os.Getenv("GOVALENT_EVALUATOR_CACHE")
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for evaluators (set GOVALENT_EVALUATOR_CACHE): %w", err)
		}
		dir = filepath.Join(d, "govalent", "evaluators")
	}
	if err := native.OwnDir(dir); err != nil {
		return "", fmt.Errorf("the evaluator cache (GOVALENT_EVALUATOR_CACHE): %w", err)
	}
	return dir, nil
}

// build returns the path of the evaluator binary for b, built now unless the cache has it, and holds it there:
// pruning the cache spares what kernels hold, until release. Kernels that need the same evaluator at once share
// one build: the first holds the key's build lock, the others wait and reuse it. built says whether this call
// built it.
func (b *evaluatorBuild) build(ctx context.Context) (bin string, built bool, release func(), err error) {
	settings, err := toolchainSettings(ctx, b.goCmd)
	if err != nil {
		return "", false, nil, err
	}
	key, err := b.key(ctx, settings)
	if err != nil {
		return "", false, nil, err
	}
	cache, err := evaluatorCacheDir()
	if err != nil {
		return "", false, nil, err
	}
	dir := filepath.Join(cache, key)
	bin = filepath.Join(dir, "evaluator")
	// built twice at most: a prune by another kernel can delete the evaluator between its build and its hold
	for builds := 0; ; builds++ {
		if release, err := holdEvaluator(dir, bin); err != nil || release != nil {
			if built && err == nil {
				pruneEvaluators(cache)
			}
			return bin, built, release, err
		}
		if builds == 2 {
			return "", false, nil, fmt.Errorf("the evaluator %s was deleted as soon as it was built", bin)
		}
		if builds == 0 && b.building != nil {
			b.building()
		}
		did, err := b.buildIn(ctx, cache, dir, bin)
		if err != nil {
			return "", false, nil, err
		}
		built = built || did
	}
}

// holdEvaluator holds the evaluator at bin (shared lock on its use lock, which a prune must take exclusively)
// and marks it used now, or returns a nil release if there is none.
func holdEvaluator(dir, bin string) (release func(), err error) {
	for range 3 { // a prune may delete dir between MkdirAll and the lock
		if err = os.MkdirAll(dir, 0o700); err == nil {
			release, err = lockFile(filepath.Join(dir, "use.lock"), syscall.LOCK_SH)
		}
		if !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		release()
		return nil, nil
	}
	touch := func() {
		now := time.Now()
		os.Chtimes(bin, now, now) // pruning goes by this
	}
	touch()
	unlock := release
	return func() { touch(); unlock() }, nil
}

// buildIn builds the evaluator into dir, unless another kernel did while this one waited for the build lock.
func (b *evaluatorBuild) buildIn(ctx context.Context, cache, dir, bin string) (built bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil { // again: a prune may have deleted it since
		return false, err
	}
	unlock, err := lockContext(ctx, filepath.Join(dir, "build.lock"))
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return false, nil // built while this kernel waited
	}
	src, err := writeEvaluatorSource(cache)
	if err != nil {
		return false, fmt.Errorf("writing govalent's source: %w", err)
	}
	work := filepath.Join(dir, "module")
	os.RemoveAll(work)
	defer os.RemoveAll(work)
	if err := b.writeModule(work, src); err != nil {
		return false, err
	}
	// extract the packages' symbols (not -trimpath: extract asks go/build, which needs GOROOT), then build the
	// evaluator that links them in
	if err := b.goRun(ctx, work, append([]string{"run", "./extract"}, b.packages...)...); err != nil {
		return false, err
	}
	tmp := bin + ".tmp"
	// -s -w: no symbol table or DWARF, which a panic's trace does not need, and the link is faster
	if err := b.goRun(ctx, work, "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, "."); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, bin); err != nil {
		return false, err
	}
	return true, nil
}

// goRun runs the go command in dir with the user's environment (GOPROXY, GOFLAGS...); what it printed is its
// error's.
func (b *evaluatorBuild) goRun(ctx context.Context, dir string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, b.goCmd, args...)
	cmd.Dir = dir
	// -mod=mod: the build module's go.mod and go.sum take in what govalent's and the modules' dependencies add
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("go %s: %v\n%s", args[0], err, strings.TrimSpace(out.String()))
	}
	return nil
}

// govalentGoMod is govalent's own go.mod, from the source embedded in the binary (read only, so parsed once).
var govalentGoMod = sync.OnceValues(func() (*modfile.File, error) {
	data, err := fs.ReadFile(govalent.EvaluatorSource, "go.mod")
	if err != nil {
		return nil, err
	}
	return modfile.Parse("go.mod", data, nil)
})

// raisedVersions lists the modules the session's go.mod requires at a version lower than govalent's own go.mod
// does: an evaluator links govalent, so it runs them at govalent's version (minimal version selection), while
// the type check, native electrons and %test use the session's.
func raisedVersions(sessionGoMod []byte) []string {
	session, err := modfile.Parse("go.mod", sessionGoMod, nil)
	if err != nil {
		return nil
	}
	gv, err := govalentGoMod()
	if err != nil {
		return nil
	}
	ours := map[string]string{}
	for _, r := range gv.Require {
		ours[r.Mod.Path] = r.Mod.Version
	}
	replaced := map[string]bool{}
	for _, r := range session.Replace {
		replaced[r.Old.Path] = true
	}
	var out []string
	for _, r := range session.Require {
		if v, ok := ours[r.Mod.Path]; ok && !replaced[r.Mod.Path] && semver.Compare(v, r.Mod.Version) > 0 {
			out = append(out, fmt.Sprintf("%s %s (not %s)", r.Mod.Path, v, r.Mod.Version))
		}
	}
	return out
}

// writeModule writes the build module: its go.mod requires what the session's does and govalent, replaced by
// its source in src; its go.sum is both modules' sums; package extract writes the symbols of the packages and
// the main package runs the evaluator with them.
func (b *evaluatorBuild) writeModule(dir, src string) error {
	session, err := modfile.Parse("go.mod", b.gomod, nil)
	if err != nil {
		return fmt.Errorf("the session's go.mod: %w", err)
	}
	gv, err := govalentGoMod()
	if err != nil {
		return err
	}
	mf := &modfile.File{}
	mf.AddModuleStmt(buildModule)
	goVersion := gv.Go.Version
	if session.Go != nil && gover(session.Go.Version) > gover(goVersion) {
		goVersion = session.Go.Version
	}
	mf.AddGoStmt(goVersion)
	for _, r := range session.Require {
		mf.AddNewRequire(r.Mod.Path, r.Mod.Version, r.Indirect)
	}
	mf.AddNewRequire(govalentModule, "v0.0.0", false)
	mf.AddReplace(govalentModule, "", src, "")
	for _, r := range session.Replace {
		newPath := r.New.Path
		if modfile.IsDirectoryPath(newPath) {
			newPath = localPath(b.moduleDir, newPath)
		}
		mf.AddReplace(r.Old.Path, r.Old.Version, newPath, r.New.Version)
	}
	gomod, err := mf.Format()
	if err != nil {
		return err
	}
	gvSum, err := fs.ReadFile(govalent.EvaluatorSource, "go.sum")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"go.mod":             gomod,
		"go.sum":             append(append(append([]byte{}, b.sum...), '\n'), gvSum...),
		"main.go":            []byte(evaluatorMain),
		"extract/main.go":    []byte(extractMain),
		"symbols/symbols.go": []byte(symbolsPackage),
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// gover orders Go versions ("1.22", "1.26.8") well enough to pick the newer go directive.
func gover(v string) string {
	var out strings.Builder
	for _, part := range strings.Split(v, ".") {
		fmt.Fprintf(&out, "%8s.", part)
	}
	return out.String()
}

const evaluatorMain = `// Command evaluator is govalent's evaluator with the compiled packages of a session's modules.
package main

import (
	"fmt"
	"os"

	"github.com/govalent/govalent/kernel"
	_ "` + buildModule + `/symbols"
)

func main() {
	if err := kernel.RunEvaluator(); err != nil {
		fmt.Fprintln(os.Stderr, "govalent evaluator:", err)
		os.Exit(1)
	}
}
`

const symbolsPackage = `// Package symbols registers the extracted symbols of the session's packages into interp.Symbols.
package symbols

import "github.com/govalent/govalent/interp"

// Symbols is interp's table, which the extracted files fill.
var Symbols = interp.Symbols
`

const extractMain = `// Command extract writes the symbols of the packages its arguments name into package symbols.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/traefik/yaegi/extract"
)

func main() {
	e := extract.Extractor{Dest: "symbols"}
	for i, p := range os.Args[1:] {
		var b bytes.Buffer
		if _, err := e.Extract(p, "", &b); err != nil {
			fmt.Fprintf(os.Stderr, "extracting the symbols of %s: %v\n", p, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join("symbols", fmt.Sprintf("p%d.go", i)), b.Bytes(), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
`

// toolchainSettings is what of the go command's settings goes into a build besides the files: its version,
// the target, cgo, and the user's flags and experiments.
func toolchainSettings(ctx context.Context, goCmd string) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOVERSION", "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOEXPERIMENT")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	return string(out), nil
}

// writeEvaluatorSource writes govalent's embedded evaluator source under cache, once per source hash, and
// returns its directory.
func writeEvaluatorSource(cache string) (string, error) {
	dir := filepath.Join(cache, "src-"+evaluatorSourceHash())
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		now := time.Now()
		os.Chtimes(dir, now, now) // in use: pruning goes by this
		return dir, nil
	}
	tmp, err := os.MkdirTemp(cache, "src-tmp")
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(govalent.EvaluatorSource, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(govalent.EvaluatorSource, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err == nil {
		err = os.Rename(tmp, dir)
		if err != nil {
			if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
				err = nil // another kernel wrote it first
			}
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}

const (
	// evaluatorKeep: an evaluator not used for this long is deleted from the cache
	evaluatorKeep = 30 * 24 * time.Hour
	// evaluatorCacheLimit bounds the cache's evaluators (30-60 MB each): past it the least recently used go
	// first, but none used within evaluatorRecent
	evaluatorCacheLimit = 4 << 30
	evaluatorRecent     = 24 * time.Hour
	// sourceKeep: the source of another govalent version is deleted when no build used it for this long
	sourceKeep = 24 * time.Hour
)

// pruneEvaluators deletes, after a build, the evaluators no kernel holds that were not used lately, and the
// source of other govalent versions. The other entries of the cache (%test's builder) are not its own.
func pruneEvaluators(cache string) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	var all []native.CacheEntry
	for _, e := range entries {
		dir := filepath.Join(cache, e.Name())
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		switch {
		case strings.HasPrefix(e.Name(), deletedPrefix):
			os.RemoveAll(dir) // a prune that did not finish
		case strings.HasPrefix(e.Name(), "src-"):
			if e.Name() != "src-"+evaluatorSourceHash() && time.Since(info.ModTime()) > sourceKeep {
				os.RemoveAll(dir)
			}
		case isEvaluatorKey(e.Name()):
			ev := native.CacheEntry{Key: dir, Used: info.ModTime()} // without a binary: a build that failed or runs now
			if bi, err := os.Stat(filepath.Join(dir, "evaluator")); err == nil {
				ev.Size, ev.Used = bi.Size(), bi.ModTime()
			}
			all = append(all, ev)
		}
	}
	native.Evict(all, evaluatorCacheLimit, evaluatorRecent, evaluatorKeep, func(ev native.CacheEntry) bool { return removeUnheld(ev.Key) })
}

// isEvaluatorKey tells whether name is an evaluator's directory in the cache (see evaluatorBuild.key).
func isEvaluatorKey(name string) bool {
	_, err := hex.DecodeString(name)
	return len(name) == 32 && err == nil
}

// removeUnheld deletes an evaluator's directory unless a kernel holds or builds it.
func removeUnheld(dir string) bool {
	var unlocks []func()
	for _, lock := range []string{"use.lock", "build.lock"} {
		unlock, err := lockFile(filepath.Join(dir, lock), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			for _, unlock := range unlocks {
				unlock()
			}
			return false
		}
		unlocks = append(unlocks, unlock)
	}
	return removeLocked(dir, unlocks)
}

// sortedUnique sorts paths and drops repeats.
func sortedUnique(paths []string) []string {
	sort.Strings(paths)
	out := paths[:0]
	for i, p := range paths {
		if i == 0 || p != paths[i-1] {
			out = append(out, p)
		}
	}
	return out
}

var errNoToolchain = errors.New("this needs a Go toolchain, and there is none: `go` is not on PATH and GOVALENT_GO is not set (install Go from https://go.dev/dl/, then restart the kernel)")
