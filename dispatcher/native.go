package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/native"
	"github.com/govalent/govalent/results"
	"github.com/govalent/govalent/results/objects"
)

// Native modes (Config.Native): whether electrons run as compiled Go.
const (
	NativeAuto   = "auto"   // when a Go toolchain is found; otherwise interpreted, with a note saying why
	NativeAlways = "always" // the dispatcher does not start without a toolchain
	NativeNever  = "never"  // always interpreted
)

// nativeTier is how the engine builds native worker binaries: builder is nil when they are off, and then
// unavailable says why, for the notes of dispatches that could have used them. uploads holds the executables
// of compiled programs, which are their own worker binaries and need no builder.
type nativeTier struct {
	builder     *native.Builder
	unavailable string
	uploads     binaryStore
}

// newNativeBuilder makes the builder of native binaries that cfg.Native asks for: nil, with the reason, when
// electrons are to run interpreted.
func newNativeBuilder(cfg Config) (*native.Builder, string, error) {
	switch cfg.Native {
	case NativeNever:
		return nil, "", nil
	case "", NativeAuto, NativeAlways:
	default:
		return nil, "", fmt.Errorf("native: %q is not auto, always or never", cfg.Native)
	}
	b, err := native.NewBuilder(filepath.Join(cfg.DataDir, "native"), cfg.Logger)
	if err != nil {
		if cfg.Native == NativeAlways {
			return nil, "", fmt.Errorf("native: always, but %w", err)
		}
		return nil, err.Error(), nil
	}
	if strings.HasPrefix(cfg.ObjectStore, "s3://") {
		// Built binaries are kept with the results, so that a dispatcher elsewhere on the same store finds them.
		s3, err := objects.NewS3(context.Background(), cfg.ObjectStore)
		if err != nil {
			return nil, "", fmt.Errorf("native: the object store: %w", err)
		}
		b.Share(s3)
	}
	return b, "", nil
}

// SetNative gives the engine its native tier, and the directory of the executables compiled programs upload;
// call it before the first dispatch.
func (e *Engine) SetNative(b *native.Builder, unavailable, uploadDir string) {
	e.native = nativeTier{builder: b, unavailable: unavailable, uploads: binaryStore{dir: uploadDir}}
}

// wantsNative tells whether node nd of r would run compiled if its program had a binary.
func (e *Engine) wantsNative(r *run, nd *ct.Node) bool {
	if nd.Kind != ct.KindElectron || nd.Interpreted || r.program == "" && len(r.graph.Binaries) == 0 {
		return false
	}
	_, ok := e.executors[e.executorName(r, nd)].(executors.NativeRunner)
	return ok
}

// startNative builds r's native worker binary when its electrons can use one, and reports whether it did
// start a build: then r's nodes are scheduled when it ends (nativeBuilt).
func (e *Engine) startNative(r *run) bool {
	if r.nativeTried {
		return false
	}
	r.nativeTried = true
	if len(r.graph.Binaries) > 0 { // a compiled program: its electrons run in its own executable, uploaded
		r.native = e.native.uploads.binaries(r.graph.Binaries)
		return false
	}
	modules := native.ModulePackages(r.program, r.goMod)
	if why := e.modulesRefused(r, modules); why != "" {
		e.failRun(r, why, "")
		return true
	}
	platforms := e.nativePlatforms(r)
	if len(platforms) == 0 {
		return false
	}
	if e.native.builder == nil {
		if e.native.unavailable != "" {
			e.addNote(r, "electrons run interpreted: "+e.native.unavailable)
		}
		return false
	}
	b, program := e.native.builder, wire.Program{Source: r.program, GoMod: r.goMod, GoSum: r.goSum}
	for _, p := range platforms {
		if !b.CachedProgram(program, p) {
			e.addNote(r, buildingNote)
			break
		}
	}
	e.builds.Add(1)
	go func() {
		defer e.builds.Done()
		// Each platform's build on its own: a failure on one leaves the others native. A compile error is the
		// code's, and a module error the session's, whatever the platform, and stops the rest.
		bins, errs := map[string]*native.Binary{}, map[string]error{}
		for _, p := range platforms {
			bin, err := b.BuildProgram(e.ctx, program, p)
			e.nativeMetrics.built(bin, err)
			if err != nil {
				errs[p.String()] = err
				var compileErr *native.CompileError
				var moduleErr *native.ModuleError
				if errors.As(err, &compileErr) || errors.As(err, &moduleErr) {
					break
				}
				continue
			}
			bins[p.String()] = bin
		}
		e.postFor(r, func() { e.nativeBuilt(r, bins, errs, modules) })
	}()
	return true
}

// modulesRefused says why r cannot run when its program imports modules (packages outside the standard library,
// which the interpreter on workers cannot load): every node that runs its code must run it in a native worker,
// which this dispatcher must be able to build. "" when it can run.
func (e *Engine) modulesRefused(r *run, modules []string) string {
	if len(modules) == 0 {
		return ""
	}
	imports := "the electrons import " + strings.Join(modules, ", ") + ", outside the standard library, which only a native worker (the electrons compiled with the session's go.mod) can run"
	if e.native.builder == nil {
		if e.native.unavailable != "" {
			return imports + ", and this dispatcher cannot build one: " + e.native.unavailable
		}
		return imports + ", and this dispatcher's native tier is off (native = never)"
	}
	for i := range r.graph.Nodes {
		nd := &r.graph.Nodes[i]
		switch {
		case nd.Kind == ct.KindSublattice:
			return fmt.Sprintf("sublattice %s cannot run: its graph is built by the interpreter on a worker, and %s", nd.Name, imports)
		case nd.Kind != ct.KindElectron || e.wantsNative(r, nd):
		case nd.Interpreted:
			return fmt.Sprintf("%s cannot run interpreted (ct.Interpreted): %s", nd.Name, imports)
		default:
			name := e.executorName(r, nd)
			return fmt.Sprintf("executor %q cannot run %s: it runs electrons interpreted, and %s", name, nd.Name, imports)
		}
	}
	return ""
}

// nativePlatforms are the platforms of the executors that r's electrons would run native on.
func (e *Engine) nativePlatforms(r *run) []native.Platform {
	seen := map[string]bool{}
	var out []native.Platform
	for i := range r.graph.Nodes {
		nd := &r.graph.Nodes[i]
		if !e.wantsNative(r, nd) {
			continue
		}
		for _, p := range e.executors[e.executorName(r, nd)].(executors.NativeRunner).NativePlatforms() {
			goos, goarch, ok := strings.Cut(p, "/")
			if ok && !seen[p] {
				seen[p] = true
				out = append(out, native.Platform{GOOS: goos, GOARCH: goarch})
			}
		}
	}
	return out
}

const buildingNote = "building the native worker of this program: the first run of a program waits for its build, later runs reuse it"

// nativeBuilt schedules r's nodes once its binary is built, or fails r if its code does not compile, its
// modules cannot be had, or it imports modules (then nothing but a native worker runs it) and a build failed.
func (e *Engine) nativeBuilt(r *run, bins map[string]*native.Binary, errs map[string]error, modules []string) {
	if r.rec.Status.Finished() || r.finishing {
		return // cancelled while it was built
	}
	r.rec.Notes = without(r.rec.Notes, buildingNote)
	for p, err := range errs {
		var compileErr *native.CompileError
		var moduleErr *native.ModuleError
		switch {
		case errors.As(err, &compileErr):
			e.failRun(r, "the Go compiler rejected the electrons' code:\n"+compileErr.Output, "")
			return
		case errors.As(err, &moduleErr):
			e.failRun(r, moduleErr.Error(), "")
			return
		case len(modules) > 0:
			e.failRun(r, fmt.Sprintf("building the native worker for %s failed, and the electrons import %s, which only a native worker runs: %v", p, strings.Join(modules, ", "), err), "")
			return
		}
		e.log.Error("native build failed; electrons for this platform run interpreted", "dispatch", r.rec.ID, "platform", p, "err", err)
		r.rec.Notes = append(r.rec.Notes, fmt.Sprintf("electrons run interpreted on %s: %v", p, err))
	}
	r.native = map[string]executors.Binary{}
	for p, bin := range bins {
		r.native[p] = executors.Binary{Hash: bin.Hash, Path: bin.Path}
		if bin.BuildTime > 0 {
			r.rec.Notes = append(r.rec.Notes, fmt.Sprintf("built the native worker of this program for %s in %s", p, bin.BuildTime.Round(time.Millisecond)))
		}
	}
	e.store.Save(results.Batch{Dispatches: []results.DispatchRecord{r.rec}}, nil) // the notes, in one write
	e.scheduleReady(r)
}

// addNote adds a note to r's record and stores it, so that clients see it while the dispatch runs (in its
// result and its progress; it is not an event, since the dispatch's status has not changed).
func (e *Engine) addNote(r *run, note string) {
	r.rec.Notes = append(r.rec.Notes, note)
	e.store.Save(results.Batch{Dispatches: []results.DispatchRecord{r.rec}}, nil)
}

func without(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// compiledMismatch says why electron nd of r cannot run on executor ex when r comes from a compiled program:
// such an electron exists only in the program's executable, so it runs in that, on an executor that runs
// native binaries of its platform.
func (e *Engine) compiledMismatch(r *run, nd *ct.Node, ex executors.Executor) string {
	if len(r.graph.Binaries) == 0 || nd.Kind != ct.KindElectron {
		return ""
	}
	if nd.Interpreted {
		return fmt.Sprintf("%s cannot run interpreted (ct.Interpreted): it comes from a compiled program, which has no source to interpret", nd.Name)
	}
	name := e.executorName(r, nd)
	runner, ok := ex.(executors.NativeRunner)
	if !ok {
		return fmt.Sprintf("executor %q cannot run %s: an electron of a compiled program runs in the program's own executable, and %q runs no native binaries", name, nd.Name, name)
	}
	platforms := runner.NativePlatforms()
	for _, p := range platforms {
		if _, ok := r.native[p]; ok {
			return ""
		}
	}
	return fmt.Sprintf("executor %q cannot run %s: its workers run on %s, and the compiled program that dispatched it was built for %s (run the program on a machine of the executor's platform)",
		name, nd.Name, strings.Join(platforms, ", "), strings.Join(slices.Sorted(maps.Keys(r.graph.Binaries)), ", "))
}

// nativeTask makes t run in r's native binary when node nd can.
func (e *Engine) nativeTask(r *run, nd *ct.Node, t *executors.Task) {
	if len(r.native) > 0 && e.wantsNative(r, nd) {
		t.Binaries = r.native
		if time.Since(r.nativeUsed) > nativeTouchEvery { // keeps the binaries from the cache's pruning
			r.nativeUsed = time.Now()
			for _, bin := range r.native {
				native.Touch(bin.Path)
			}
		}
	}
}

// nativeTouchEvery is how often a running dispatch marks its binaries as used (native.Builder keeps those used
// within the hour).
const nativeTouchEvery = 10 * time.Minute
