package kernel

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
)

// The kernel runs the evaluators in its cache: a cache directory others can write is refused, before anything
// is read from it or built into it.
func TestEvaluatorCacheOthersCanWriteIsRefused(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777) // past the umask
	t.Setenv("GOVALENT_EVALUATOR_CACHE", shared)
	if _, err := evaluatorCacheDir(); err == nil || !strings.Contains(err.Error(), "only they can write") {
		t.Fatalf("a world-writable cache: %v", err)
	}
	own := filepath.Join(t.TempDir(), "own")
	t.Setenv("GOVALENT_EVALUATOR_CACHE", own)
	if dir, err := evaluatorCacheDir(); err != nil || dir != own {
		t.Fatalf("the user's own cache: %q %v", dir, err)
	}
	if st, err := os.Stat(own); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("made as %v, %v; want 0700", st.Mode(), err)
	}
}

// After a build the cache lets go of what nobody used lately: evaluators past evaluatorKeep, the least recently
// used past evaluatorCacheLimit (but none used within evaluatorRecent), and the source of other govalent versions.
// It spares what a kernel holds or builds, what is not its own, and the current source.
func TestPruneEvaluators(t *testing.T) {
	cache := t.TempDir()
	old := time.Now().Add(-evaluatorKeep - time.Hour)
	evaluator := func(key string, size int64, used time.Time) string {
		t.Helper()
		dir := filepath.Join(cache, key)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "evaluator")
		if err := os.WriteFile(bin, nil, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(bin, size); err != nil { // sparse: no disk used
			t.Fatal(err)
		}
		os.Chtimes(bin, used, used)
		return dir
	}
	key := func(c byte) string { return strings.Repeat(string(c), 32) }
	unused := evaluator(key('a'), 1, old)
	recent := evaluator(key('b'), 1, time.Now())
	held := evaluator(key('c'), 1, old)
	release, err := holdEvaluator(held, filepath.Join(held, "evaluator"))
	if err != nil || release == nil {
		t.Fatalf("holding an evaluator: %v", err)
	}
	building := evaluator(key('d'), 1, old)
	unlock, err := lockFile(filepath.Join(building, "build.lock"), syscall.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// past the size limit: the least recently used goes, one used today stays
	big := evaluator(key('e'), evaluatorCacheLimit, time.Now().Add(-2*evaluatorRecent))
	bigToday := evaluator(key('f'), evaluatorCacheLimit/2, time.Now().Add(-time.Hour))
	os.Chtimes(filepath.Join(held, "evaluator"), old, old) // holding it marked it used
	notOurs := filepath.Join(cache, "gotest")
	oldSource := filepath.Join(cache, "src-0123")
	source, err := writeEvaluatorSource(cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{notOurs, oldSource} {
		os.MkdirAll(d, 0o700)
		os.Chtimes(d, old, old)
	}
	os.Chtimes(source, old, old)

	pruneEvaluators(cache)
	for dir, want := range map[string]bool{unused: false, recent: true, held: true, building: true, big: false,
		bigToday: true, notOurs: true, oldSource: false, source: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
	release()
	os.Chtimes(filepath.Join(held, "evaluator"), old, old) // letting go of it marked it used
	pruneEvaluators(cache)
	if _, err := os.Stat(held); err == nil {
		t.Errorf("an old evaluator nobody holds any more was kept")
	}
}

// A kernel that waits to hold an evaluator while a prune deletes it, and another kernel builds it again, holds
// the new one: a prune of that must wait for the kernel to let go.
func TestHoldAfterAPruneHoldsTheNewEvaluator(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("a", 32))
	bin := filepath.Join(dir, "evaluator")
	build := func() {
		t.Helper()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, nil, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	build()
	unlock, err := lockFile(filepath.Join(dir, "use.lock"), syscall.LOCK_EX) // the prune's
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan func())
	go func() {
		release, err := holdEvaluator(dir, bin)
		if err != nil {
			t.Error(err)
		}
		held <- release
	}()
	time.Sleep(200 * time.Millisecond) // the kernel waits for the lock
	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	build() // by another kernel, before the prune lets go
	unlock()
	release := <-held
	if release == nil {
		t.Fatal("no hold on the evaluator built again")
	}
	defer release()
	if !removeUnheld(dir) {
		return
	}
	t.Error("a prune deleted the evaluator a kernel holds")
}

// A module the session's go.mod requires below govalent's version runs at govalent's in cells, and the kernel
// says so; one replaced by the session, or required at a higher version, is not listed.
func TestRaisedVersions(t *testing.T) {
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	gv, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mod, other string
	for _, r := range gv.Require {
		switch r.Mod.Path {
		case "golang.org/x/mod":
			mod = r.Mod.Version
		case "golang.org/x/sync":
			other = r.Mod.Path
		}
	}
	session := "module govalent.session\n\ngo 1.22\n\nrequire (\n\tgolang.org/x/mod v0.1.0\n\t" + other + " v0.1.0\n\texample.org/greet v1.2.0\n)\n\nreplace " + other + " => ./sync\n"
	got := raisedVersions([]byte(session))
	if want := []string{"golang.org/x/mod " + mod + " (not v0.1.0)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("raisedVersions = %q, want %q", got, want)
	}
	if got := raisedVersions([]byte("module m\n\nrequire golang.org/x/mod v99.0.0\n")); len(got) != 0 {
		t.Errorf("a higher version is listed: %q", got)
	}
}
