// Package native builds the programs that dispatches ship (package interp writes them from notebook cells) into
// worker binaries: compiled Go that runs electrons at machine speed, where the interpreter runs them 100-300x
// slower. A binary is the shipped source plus a generated main that calls ct.ServeNative, built by the Go
// toolchain in a module whose vendor directory holds the SDK's source, embedded in govalent itself (package
// govalent at the module root), so a build needs nothing but a toolchain: no network, no module cache. A
// program that imports modules comes with its session's go.mod and go.sum and is built in module mode with
// them (modules.go): then this machine needs module access, and workers still do not.
//
// Builds are cached by content (the program and its go.mod and go.sum, the toolchain's version, the platform and
// the embedded source), and concurrent requests for one binary share one build.
package native

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/govalent/govalent"
	"github.com/govalent/govalent/ct/wire"
)

// Platform is where a binary runs.
type Platform struct {
	GOOS   string `json:"goos"`
	GOARCH string `json:"goarch"`
}

// Host is the platform of this process.
func Host() Platform { return Platform{runtime.GOOS, runtime.GOARCH} }

func (p Platform) String() string { return p.GOOS + "/" + p.GOARCH }

// Binary is a built worker binary.
type Binary struct {
	Path      string
	Hash      string // sha256 of its content, by which workers elsewhere fetch it
	Platform  Platform
	BuildTime time.Duration // 0 for a cache hit
}

// ErrNoToolchain is returned (wrapped, with the reason) when no Go toolchain can be found.
var ErrNoToolchain = errors.New("no Go toolchain")

// CompileError is the Go compiler rejecting the user's code: its messages, at the cells' lines.
type CompileError struct {
	Output string // the compiler's messages, one per line ("cell3:5:2: declared and not used: x")
}

func (e *CompileError) Error() string { return "the Go compiler rejected the program:\n" + e.Output }

// Shared is where built binaries are kept besides the local cache: the dispatcher's object store when it is
// S3 (objects.Store has these methods), so that a dispatcher on another machine, or one whose cache was lost,
// finds a program built. A binary is kept as native/<sha256>, and native/builds/<key> names the binary of a
// build key.
type Shared interface {
	Put(ctx context.Context, name string, r io.Reader) error
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	Exists(ctx context.Context, name string) (bool, error)
}

// Builder builds and caches worker binaries under a directory.
type Builder struct {
	dir     string
	goCmd   string
	version string // `go env GOVERSION`
	log     *slog.Logger
	shared  Shared // nil: the local cache only
	// limit bounds the local cache's binaries: past it the least recently used go, but none used within keep
	// (a worker may be about to start it).
	limit int64
	keep  time.Duration
	// moduleTimeout bounds a build of a program with modules, which fetches them: a proxy that never answers
	// fails the dispatch rather than holding it.
	moduleTimeout time.Duration

	mu       sync.Mutex
	inflight map[string]*build
	srcMu    sync.Mutex
	srcDirs  map[string]string // the directories written from the embedded source, by kind, once written
}

type build struct {
	done chan struct{}
	bin  *Binary
	err  error
}

// GoCommand is the Go toolchain's go command that govalent uses everywhere: GOVALENT_GO, else go on PATH.
// Without one it returns an error wrapping ErrNoToolchain.
func GoCommand() (string, error) {
	if goCmd := os.Getenv("GOVALENT_GO"); goCmd != "" {
		return goCmd, nil
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w: go is not on PATH (set GOVALENT_GO to the go command)", ErrNoToolchain)
	}
	return p, nil
}

// NewBuilder finds the Go toolchain (GoCommand) and caches under dir. Without a toolchain it returns an error
// wrapping ErrNoToolchain.
func NewBuilder(dir string, log *slog.Logger) (*Builder, error) {
	goCmd, err := GoCommand()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(goCmd, "env", "GOVERSION")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s env GOVERSION: %v", ErrNoToolchain, goCmd, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sweep(dir)
	return &Builder{dir: dir, goCmd: goCmd, version: strings.TrimSpace(string(out)), log: log, inflight: map[string]*build{},
		srcDirs: map[string]string{}, moduleTimeout: 15 * time.Minute, limit: cacheLimit, keep: time.Hour}, nil
}

// Share keeps built binaries in s too, and looks there before building one; call it before the first Build.
func (b *Builder) Share(s Shared) { b.shared = s }

// sweep removes what builds and fetches left when their process was killed: temporary binaries, hash files and
// modules, and program directories. The data directory is one dispatcher's, so none is in use.
func sweep(dir string) {
	for _, pattern := range []string{"bin/*.tmp*", "src/*.tmp*", "src/*/p/*", "shared/*.tmp", "modp/*"} {
		leftovers, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, l := range leftovers {
			os.RemoveAll(l)
		}
	}
}

// GoVersion is the toolchain's version ("go1.26.8").
func (b *Builder) GoVersion() string { return b.version }

// Build returns the binary of source for p, building it unless it is cached; concurrent calls for one binary
// share one build, which ends early when the ctx of the call that started it ends. A *CompileError is the user's
// code failing to compile; any other error is govalent's.
func (b *Builder) Build(ctx context.Context, source string, p Platform) (*Binary, error) {
	return b.BuildProgram(ctx, wire.Program{Source: source}, p)
}

// BuildProgram is Build for a program as a session ships it: one that imports modules is built with its go.mod
// and go.sum, in module mode, the modules coming from GOPROXY (and GOFLAGS, GOPRIVATE... as this process's
// environment sets them) or the module cache; a *ModuleError is a module that cannot be had at the versions they
// name. A program of the standard library alone is built offline, whatever go.mod it comes with.
func (b *Builder) BuildProgram(ctx context.Context, prog wire.Program, p Platform) (*Binary, error) {
	prog, err := buildable(prog)
	if err != nil {
		return nil, err
	}
	key := b.key(prog, p)
	b.mu.Lock()
	if bd, ok := b.inflight[key]; ok {
		b.mu.Unlock()
		select {
		case <-bd.done:
			if bd.err == nil {
				cached := *bd.bin
				cached.BuildTime = 0 // built for an earlier caller: a cache hit for this one
				Touch(cached.Path)
				return &cached, nil
			}
		default:
		}
		select {
		case <-bd.done: // built while this caller waited for it
			return bd.bin, bd.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	bd := &build{done: make(chan struct{})}
	b.inflight[key] = bd
	b.mu.Unlock()

	var added bool
	bd.bin, added, bd.err = b.cachedOrBuild(ctx, key, prog, p)
	close(bd.done)
	b.mu.Lock()
	if bd.err != nil {
		delete(b.inflight, key) // a failure is not cached: the next dispatch tries again
	}
	b.mu.Unlock()
	if added {
		b.prune()
	}
	return bd.bin, bd.err
}

// cacheLimit is the default bound of the local cache: a notebook makes a new program at every edit of an
// electron, about 6 MB each.
const cacheLimit = 4 << 30

// Touch marks a cached binary as used now, so that the cache keeps it: a dispatch that runs for long touches
// its binaries now and then.
func Touch(binPath string) {
	now := time.Now()
	os.Chtimes(binPath+".sha256", now, now)
}

// prune deletes the least recently used binaries while the cache holds more than b.limit, sparing those used
// within b.keep.
func (b *Builder) prune() {
	hashes, _ := filepath.Glob(filepath.Join(b.dir, "bin", "*.sha256"))
	var all []CacheEntry
	for _, h := range hashes {
		hi, err := os.Stat(h)
		if err != nil {
			continue
		}
		bi, err := os.Stat(strings.TrimSuffix(h, ".sha256"))
		if err != nil {
			continue
		}
		all = append(all, CacheEntry{Key: strings.TrimSuffix(filepath.Base(h), ".sha256"), Size: bi.Size(), Used: hi.ModTime()})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	Evict(all, b.limit, b.keep, 0, func(c CacheEntry) bool {
		binPath := filepath.Join(b.dir, "bin", c.Key)
		os.Remove(binPath + ".sha256") // first: a binary without it is not cached
		os.Remove(binPath)
		delete(b.inflight, c.Key)
		b.log.Info("removed a native worker not used lately from the cache", "key", c.Key)
		return true
	})
}

// CacheEntry is one entry of a cache that Evict prunes.
type CacheEntry struct {
	Key  string
	Size int64
	Used time.Time // last used
}

// Evict removes, least recently used first, the entries not used for maxAge (if not zero), and those past
// limit in total size, but none used within recent; remove reports whether it removed the entry (one in use
// may not be).
func Evict(entries []CacheEntry, limit int64, recent, maxAge time.Duration, remove func(CacheEntry) bool) {
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Used.Before(entries[j].Used) })
	for _, e := range entries {
		age := time.Since(e.Used)
		expired := maxAge > 0 && age > maxAge
		if !expired && (total <= limit || age < recent) {
			continue
		}
		if remove(e) {
			total -= e.Size
		}
	}
}

// Cached tells whether the binary of source for p is built already (then Build returns at once).
func (b *Builder) Cached(source string, p Platform) bool {
	return b.CachedProgram(wire.Program{Source: source}, p)
}

// CachedProgram is Cached for a program as BuildProgram takes it.
func (b *Builder) CachedProgram(prog wire.Program, p Platform) bool {
	prog, err := buildable(prog)
	if err != nil {
		return false
	}
	key := b.key(prog, p)
	b.mu.Lock()
	bd, ok := b.inflight[key]
	b.mu.Unlock()
	if ok {
		select {
		case <-bd.done:
			return bd.err == nil
		default:
			return false
		}
	}
	_, err = os.Stat(filepath.Join(b.dir, "bin", key+".sha256"))
	return err == nil
}

// key names a binary by everything it is built from: a program without modules as it always was.
func (b *Builder) key(prog wire.Program, p Platform) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", b.version, p, sourceHash(), prog.Source)
	if prog.GoMod != "" {
		fmt.Fprintf(h, "go.mod\x00%s\x00go.sum\x00%s\x00", prog.GoMod, prog.GoSum)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// buildable is prog as it is built: its source, and its go.mod and go.sum if and only if it imports modules
// (they would change nothing else but the cache key). A program that imports modules without a go.mod is
// refused.
func buildable(prog wire.Program) (wire.Program, error) {
	out := wire.Program{Source: prog.Source}
	if pkgs := ModulePackages(prog.Source, prog.GoMod); len(pkgs) > 0 {
		if strings.TrimSpace(prog.GoMod) == "" {
			return out, &ModuleError{Output: fmt.Sprintf("the program imports %s, outside the standard library, but came without the go.mod that names its module's version (a session ships it from its module directory)", strings.Join(pkgs, ", "))}
		}
		out.GoMod, out.GoSum = prog.GoMod, prog.GoSum
	}
	return out, nil
}

// sourceHash identifies the embedded SDK source.
var sourceHash = sync.OnceValue(func() string { return govalent.TreeHash(govalent.Source)[:16] })

// cachedOrBuild returns the binary of key from the local cache, the shared store or a build; added tells that the
// local cache gained a file.
func (b *Builder) cachedOrBuild(ctx context.Context, key string, prog wire.Program, p Platform) (bin *Binary, added bool, err error) {
	binPath := filepath.Join(b.dir, "bin", key)
	if hash, err := os.ReadFile(binPath + ".sha256"); err == nil && wire.IsSHA256(string(hash)) { // else torn: built again
		if _, err := os.Stat(binPath); err == nil {
			Touch(binPath)
			return &Binary{Path: binPath, Hash: string(hash), Platform: p}, false, nil
		}
	}
	if bin := b.fromShared(key, p, binPath); bin != nil {
		return bin, true, nil
	}
	start := time.Now()
	if err := b.compile(ctx, key, prog, p, binPath); err != nil {
		return nil, false, err
	}
	hash, err := FileHash(binPath)
	if err != nil {
		return nil, true, err
	}
	if err := writeFileAtomic(binPath+".sha256", []byte(hash), 0o600); err != nil {
		return nil, true, err
	}
	bin = &Binary{Path: binPath, Hash: hash, Platform: p, BuildTime: time.Since(start)}
	b.log.Info("built a native worker", "platform", p.String(), "key", key, "took", bin.BuildTime)
	b.toShared(key, bin)
	return bin, true, nil
}

// sharedTimeout bounds a binary's trip to or from the shared store: past it, the build goes on without.
const sharedTimeout = 2 * time.Minute

// fromShared copies the binary of key from the shared store into the local cache, or returns nil (not
// there, or not reachable: then it is built).
func (b *Builder) fromShared(key string, p Platform, binPath string) *Binary {
	if b.shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	r, err := b.shared.Get(ctx, path.Join("native", "builds", key))
	if err != nil {
		return nil
	}
	hash, err := io.ReadAll(io.LimitReader(r, 100))
	r.Close()
	if err != nil {
		return nil
	}
	fetched, err := Fetch(ctx, filepath.Join(b.dir, "shared"), strings.TrimSpace(string(hash)), func(ctx context.Context) (io.ReadCloser, error) {
		return b.shared.Get(ctx, path.Join("native", strings.TrimSpace(string(hash))))
	})
	if err == nil {
		err = os.MkdirAll(filepath.Dir(binPath), 0o700)
	}
	if err == nil {
		err = os.Rename(fetched, binPath)
	}
	if err == nil {
		err = writeFileAtomic(binPath+".sha256", []byte(strings.TrimSpace(string(hash))), 0o600)
	}
	if err != nil {
		b.log.Warn("a native worker in the shared store could not be used; building it", "key", key, "err", err)
		return nil
	}
	return &Binary{Path: binPath, Hash: strings.TrimSpace(string(hash)), Platform: p}
}

// toShared keeps a new binary in the shared store, best effort: the local cache has it either way.
func (b *Builder) toShared(key string, bin *Binary) {
	if b.shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	name := path.Join("native", bin.Hash)
	err := func() error {
		if there, err := b.shared.Exists(ctx, name); err != nil || there {
			return err
		}
		f, err := os.Open(bin.Path)
		if err != nil {
			return err
		}
		defer f.Close()
		return b.shared.Put(ctx, name, f)
	}()
	if err == nil { // the key's name last: it never names a binary that is not there
		err = b.shared.Put(ctx, path.Join("native", "builds", key), strings.NewReader(bin.Hash))
	}
	if err != nil {
		b.log.Warn("keeping a native worker in the shared store", "key", key, "err", err)
	}
}

// compile builds prog into binPath. A program without modules builds offline against the vendored SDK; one that
// imports modules builds in module mode: a module holding the session's go.mod (its module path renamed, the
// SDK required and replaced by the embedded source) and go.sum, whose versions the build keeps to
// (-mod=readonly: nothing is added or upgraded), within moduleTimeout.
func (b *Builder) compile(ctx context.Context, key string, prog wire.Program, p Platform, binPath string) error {
	main, err := generatedMain(prog.Source)
	if err != nil {
		return err
	}
	mod, pkg, cleanup, err := b.packageDir("p", key, prog, map[string][]byte{"program.go": []byte(prog.Source), generatedFile: main})
	if err != nil {
		return err
	}
	defer cleanup()
	if err := os.MkdirAll(filepath.Dir(binPath), 0o700); err != nil {
		return err
	}
	modules := prog.GoMod != ""
	buildCtx, modFlag := ctx, "-mod=vendor"
	if modules {
		var cancel context.CancelFunc
		buildCtx, cancel = context.WithTimeout(ctx, b.moduleTimeout)
		defer cancel()
		modFlag = "-mod=readonly"
	}
	tmp := binPath + ".tmp" + key[:8] + fmt.Sprint(os.Getpid())
	cmd := exec.CommandContext(buildCtx, b.goCmd, "build", modFlag, "-trimpath", "-buildvcs=false", "-o", tmp, pkg)
	cmd.Dir = mod
	cmd.Env = b.buildEnv(p, modules)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no build outlives a killed dispatcher
	cmd.WaitDelay = 10 * time.Second                                   // a git the go command started may outlive it, holding its output open
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		switch {
		case ctx.Err() != nil:
			return ctx.Err() // stopped, not failed: nothing to report of the code
		case !modules:
			return buildFailure(stderr.String(), err)
		case buildCtx.Err() != nil:
			return &ModuleError{Output: moduleMessages(fmt.Sprintf("the build did not end within %s: a module proxy or repository that does not answer?", b.moduleTimeout))}
		}
		return moduleBuildFailure(stderr.String(), mod, "program.go", err)
	}
	return os.Rename(tmp, binPath)
}

// buildEnv is the toolchain's environment for a build for p: outside any workspace, statically linked (so a
// binary runs on any machine of its platform), with a build cache even where HOME is unset (a service). A build
// without modules is offline; one with modules finds them as this process's environment says (GOPROXY, GOFLAGS
// and the rest), but never prompts for a password (a build nobody watches would wait for ever).
func (b *Builder) buildEnv(p Platform, modules bool) []string {
	env := make([]string, 0, len(os.Environ())+8)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOOS", "GOARCH", "GOFLAGS", "GOWORK", "GOPROXY", "GOTOOLCHAIN", "CGO_ENABLED", "GO111MODULE":
			if modules && (name == "GOFLAGS" || name == "GOPROXY") {
				break
			}
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GOOS="+p.GOOS, "GOARCH="+p.GOARCH, "CGO_ENABLED=0", "GOWORK=off", "GOTOOLCHAIN=local", "GO111MODULE=on")
	if modules {
		env = append(env, "GIT_TERMINAL_PROMPT=0")
		if os.Getenv("GIT_SSH_COMMAND") == "" { // the user's own (a key of its own) is kept
			env = append(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
		}
		if os.Getenv("GOMODCACHE") == "" && os.Getenv("GOPATH") == "" && os.Getenv("HOME") == "" {
			env = append(env, "GOMODCACHE="+filepath.Join(b.dir, "gomodcache"))
		}
	} else {
		env = append(env, "GOFLAGS=", "GOPROXY=off")
	}
	if os.Getenv("GOCACHE") == "" && os.Getenv("HOME") == "" && os.Getenv("XDG_CACHE_HOME") == "" {
		env = append(env, "GOCACHE="+filepath.Join(b.dir, "gocache"))
	}
	return env
}

// errorLine matches a compiler message: "file:line:col: message" or "file:line: message".
var errorLine = regexp.MustCompile(`^(\S+?):(\d+)(?::\d+)?: `)

// buildFailure tells a compile error of the user's code from a failure of govalent's own: messages about the
// generated main, the SDK or the build itself are ours.
func buildFailure(out string, runErr error) error {
	var user []string
	ours := false
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := errorLine.FindStringSubmatch(line)
		switch {
		case m == nil:
			if strings.HasPrefix(line, "\t") && len(user) > 0 { // a continuation of the message above
				user = append(user, line)
				continue
			}
			ours = true
		case m[1] == generatedFile || strings.Contains(m[1], "/"):
			ours = true
		default:
			user = append(user, line)
		}
	}
	if len(user) > 0 && !ours {
		return &CompileError{Output: strings.Join(user, "\n")}
	}
	return fmt.Errorf("building the native worker failed (a govalent bug, not your code): %v\n%s", runErr, strings.TrimSpace(out))
}

// generatedFile is the file holding the generated main.
const generatedFile = "govalent_native_main.go"

// generatedMain writes the main of a program's binary: it serves the program's top-level funcs and vars
// (entries of the transport graph are among them).
func generatedMain(source string) ([]byte, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "program.go", source, parser.SkipObjectResolution)
	if err != nil {
		return nil, &CompileError{Output: err.Error()}
	}
	var names []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Type.TypeParams == nil && d.Name.Name != "init" && d.Name.Name != "_" {
				names = append(names, d.Name.Name)
			}
		case *ast.GenDecl:
			if d.Tok != token.VAR {
				continue
			}
			for _, s := range d.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if n.Name != "_" {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	for _, n := range names {
		if n == "main" {
			return nil, fmt.Errorf("the program declares func main, which its native worker's main would clash with")
		}
	}
	sort.Strings(names)
	var src bytes.Buffer
	src.WriteString("package main\n\nimport govalentnative \"github.com/govalent/govalent/ct\"\n\n")
	src.WriteString("func main() {\n\tgovalentnative.ServeNative(map[string]any{\n")
	for _, n := range names {
		fmt.Fprintf(&src, "\t\t%q: %s,\n", n, n)
	}
	src.WriteString("\t})\n}\n")
	return src.Bytes(), nil
}

// prepared returns a directory written from the embedded source by write, writing it the first time: kind ""
// is the module programs without modules are built in (go.mod, and a vendor directory holding the SDK), "sdk"
// the SDK as a module, which programs with modules replace govalent's module by.
func (b *Builder) prepared(kind string, write func(dir string) error) (string, error) {
	b.srcMu.Lock()
	defer b.srcMu.Unlock()
	if dir := b.srcDirs[kind]; dir != "" {
		return dir, nil
	}
	name := sourceHash()
	if kind != "" {
		name += "-" + kind
	}
	dir := filepath.Join(b.dir, "src", name)
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		tmp := dir + fmt.Sprintf(".tmp%d", os.Getpid())
		os.RemoveAll(tmp)
		err := write(tmp)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(dir), 0o700)
		}
		if err == nil {
			err = os.Rename(tmp, dir)
		}
		if err != nil {
			os.RemoveAll(tmp)
			if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr != nil { // else another process wrote it first
				return "", err // tried again at the next build: a full disk passes
			}
		}
	}
	b.srcDirs[kind] = dir
	return dir, nil
}

// modulePath is the generated module's path; programs are its packages p/<key>.
const modulePath = "govalent.native"

func writeModule(tmp string) error {
	if err := writeSource(filepath.Join(tmp, "vendor", govalentModule)); err != nil {
		return err
	}
	goVersion, err := moduleGoVersion()
	if err != nil {
		return err
	}
	gomod := fmt.Sprintf("module %s\n\ngo %s\n\nrequire %s v0.0.0\n", modulePath, goVersion, govalentModule)
	var modules strings.Builder
	fmt.Fprintf(&modules, "# %s v0.0.0\n## explicit; go %s\n", govalentModule, goVersion)
	for _, p := range govalent.SourcePackages {
		fmt.Fprintf(&modules, "%s/%s\n", govalentModule, p)
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(tmp, "vendor", "modules.txt"), []byte(modules.String()), 0o600)
}

const govalentModule = "github.com/govalent/govalent"

// moduleGoVersion is the go directive of govalent's go.mod, which the generated module repeats.
func moduleGoVersion() (string, error) {
	data, err := fs.ReadFile(govalent.Source, "go.mod")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("govalent's go.mod has no go directive")
}

// FileHash is the sha256 of a file's content, as Binary.Hash has it.
func FileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := fmt.Sprintf("%s.tmp%d", path, os.Getpid())
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
