package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
)

// After a dispatch is deleted, collecting deletes the objects only it referred to and its program; an object
// another dispatch shares, a young one (a write may be under way elsewhere) and files that are not objects stay,
// and the other dispatch reads back whole.
func TestCollectObjectsKeepsWhatIsReferred(t *testing.T) {
	m, dir := openStore(t)
	big := func(c string) []byte { return []byte(`"` + strings.Repeat(c, InlineLimit+10) + `"`) }
	create := func(id, program string, output []byte) {
		t.Helper()
		rec := &DispatchRecord{ID: id, RootID: id, ParentNode: -1, Status: ct.StatusCompleted, Created: time.Now(), Inputs: big(id),
			ProgramHash: ProgramHash(program)}
		if err := m.CreateDispatch(t.Context(), rec, []byte(`{"nodes":[]}`), ct.Program{Source: program}); err != nil {
			t.Fatal(err)
		}
		if err := m.SaveSync(t.Context(), Batch{Nodes: []NodeRecord{{DispatchID: id, NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Output: output}}}}); err != nil {
			t.Fatal(err)
		}
	}
	create("a", "package main // a", big("x"))
	create("b", "package main // b", big("x")) // the same output: one object for both
	objectsDir := filepath.Join(dir, "objects")
	count := func() int { entries, _ := filepath.Glob(filepath.Join(objectsDir, "*")); return len(entries) }
	if n := count(); n != 3 { // a's inputs, b's inputs, the shared output
		t.Fatalf("%d objects before", n)
	}
	os.WriteFile(filepath.Join(objectsDir, "notes.txt"), []byte("not an object"), 0o600)
	if err := m.Delete(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}

	if programs, removed, err := m.CollectObjects(t.Context(), time.Hour); err != nil || programs != 1 || removed != 0 {
		t.Fatalf("within the grace period: %d programs, %d objects removed, %v", programs, removed, err)
	}
	if programs, removed, err := m.CollectObjects(t.Context(), 0); err != nil || programs != 0 || removed != 1 {
		t.Fatalf("after it: %d programs, %d objects removed, %v", programs, removed, err)
	}
	if _, err := os.Stat(filepath.Join(objectsDir, "notes.txt")); err != nil {
		t.Fatalf("a file that is not an object was deleted: %v", err)
	}
	got, err := m.Dispatch(t.Context(), "b")
	if err != nil || string(got.Inputs) != string(big("b")) {
		t.Fatalf("b's inputs: %v", err)
	}
	nodes, err := m.Nodes(t.Context(), "b")
	if err != nil || len(nodes) != 1 || string(nodes[0].Output) != string(big("x")) {
		t.Fatalf("b's output: %+v %v", nodes, err)
	}
	if p, err := m.Program(t.Context(), ProgramHash("package main // b")); err != nil || p.Source != "package main // b" {
		t.Fatalf("b's program: %q %v", p.Source, err)
	}
	if _, err := m.Program(t.Context(), ProgramHash("package main // a")); err == nil {
		t.Fatal("a's program is still there")
	}
}
