package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A kernel started with the connection file of one that is stopping for a restart waits for it to let go, and
// takes over its go.mod; a shutdown that is no restart deletes the session; sessions nobody came back to are
// pruned, unless a kernel holds them.
func TestSessionModuleDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	conn := filepath.Join(t.TempDir(), "kernel-1.json")
	first, err := sessionModuleDir(conn)
	if err != nil {
		t.Fatal(err)
	}
	if first.kept {
		t.Fatal("a new session says it took over another's modules")
	}
	gomod := filepath.Join(first.path, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil || !strings.HasPrefix(string(data), "module "+sessionModule+"\n") {
		t.Fatalf("a new session's go.mod: %q %v", data, err)
	}
	edited := string(data) + "\nrequire example.org/greet v1.2.0\n"
	os.WriteFile(gomod, []byte(edited), 0o600)

	// the kernel Jupyter starts for the restart comes before the old one has gone
	next := make(chan moduleDir)
	go func() {
		m, err := sessionModuleDir(conn)
		if err != nil {
			t.Error(err)
		}
		next <- m
	}()
	select {
	case <-next:
		t.Fatal("two kernels hold one session")
	case <-time.After(300 * time.Millisecond):
	}
	first.release(true)
	second := <-next
	if !second.kept || second.path != first.path {
		t.Fatalf("after a restart: %+v; want %s taken over", second, first.path)
	}
	if data, _ := os.ReadFile(gomod); string(data) != edited {
		t.Fatalf("go.mod after a restart: %q", data)
	}

	// a killed kernel's session that nobody came back to, and one a kernel still runs in after as long
	root := filepath.Dir(filepath.Dir(second.path))
	stale := filepath.Join(root, "stale")
	live := filepath.Join(root, "live")
	for _, d := range []string{stale, live} {
		os.MkdirAll(filepath.Join(d, "module"), 0o700)
		os.WriteFile(filepath.Join(d, "lock"), nil, 0o600)
		old := time.Now().Add(-sessionKeep - time.Hour)
		os.Chtimes(filepath.Join(d, "lock"), old, old)
	}
	unlock, err := lockFile(filepath.Join(live, "lock"), syscall.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	other, err := sessionModuleDir(filepath.Join(filepath.Dir(conn), "kernel-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if other.kept || other.path == second.path {
		t.Fatalf("another connection file's session: %+v", other)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("a stale session was kept")
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("the session a kernel holds was pruned")
	}
	if _, err := os.Stat(second.path); err != nil {
		t.Error("a held session was pruned")
	}

	second.release(false)
	other.release(false)
	if entries, _ := os.ReadDir(root); len(entries) != 1 || entries[0].Name() != "live" {
		t.Errorf("after shutdowns that are no restart, the sessions directory holds %v", entries)
	}
}
