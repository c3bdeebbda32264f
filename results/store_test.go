package results

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
)

func openStore(t *testing.T) (*Manager, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { m.Close() })
	return m, dir
}

func TestLargeValuesLiveInCheckedFiles(t *testing.T) {
	m, dir := openStore(t)
	big := json.RawMessage(`"` + strings.Repeat("a", InlineLimit+10) + `"`)
	rec := &DispatchRecord{ID: "d1", RootID: "d1", ParentNode: -1, Status: ct.StatusRunning, Created: time.Now(), Inputs: big}
	if err := m.CreateDispatch(t.Context(), rec, []byte(`{"nodes":[]}`), ct.Program{Source: "package main"}); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveSync(t.Context(), Batch{Nodes: []NodeRecord{{DispatchID: "d1", NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Output: big}}}}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Dispatch(t.Context(), "d1")
	if err != nil || string(got.Inputs) != string(big) {
		t.Fatalf("inputs back: %v", err)
	}
	objects, _ := filepath.Glob(filepath.Join(dir, "objects", "*"))
	if len(objects) != 1 {
		t.Fatalf("objects %v: the same value should be stored once", objects)
	}
	// a corrupt object is reported on the node, never a crash
	os.WriteFile(objects[0], []byte(`"tampered"`), 0o644)
	nodes, err := m.Nodes(t.Context(), "d1")
	if err != nil || len(nodes) != 1 || nodes[0].Output != nil || !strings.Contains(nodes[0].Error, "digest mismatch") {
		t.Fatalf("corrupt: %+v %v", nodes, err)
	}
	// the same value stored again repairs the object rather than reusing it
	if err := m.SaveSync(t.Context(), Batch{Nodes: []NodeRecord{{DispatchID: "d1", NodeID: 1, NodeState: NodeState{Status: ct.StatusCompleted, Output: big}}}}); err != nil {
		t.Fatal(err)
	}
	if nodes, err = m.Nodes(t.Context(), "d1"); err != nil || string(nodes[0].Output) != string(big) || string(nodes[1].Output) != string(big) {
		t.Fatalf("after storing it again: %v", err)
	}
	os.Remove(objects[0])
	nodes, _ = m.Nodes(t.Context(), "d1")
	if len(nodes) != 2 || !strings.Contains(nodes[0].Error, "missing or unreadable") {
		t.Fatalf("missing: %+v", nodes)
	}
	if _, err := m.Dispatch(t.Context(), "d1"); err == nil || !strings.Contains(err.Error(), "missing or unreadable") {
		t.Fatalf("dispatch with a missing input object: %v", err)
	}
}

func TestGroupCommitKeepsEveryWrite(t *testing.T) {
	m, _ := openStore(t)
	if err := m.CreateDispatch(t.Context(), &DispatchRecord{ID: "d", RootID: "d", ParentNode: -1, Status: ct.StatusRunning, Created: time.Now()}, []byte(`{}`), ct.Program{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := 0; i < 2000; i++ {
		wg.Add(1)
		m.Save(Batch{Nodes: []NodeRecord{{DispatchID: "d", NodeID: i, NodeState: NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`1`)}}}}, func(err error) {
			mu.Lock()
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	nodes, err := m.Nodes(t.Context(), "d")
	if err != nil || len(nodes) != 2000 || len(errs) > 0 {
		t.Fatalf("%d nodes, %v, %v", len(nodes), err, errs)
	}
	ids, _ := m.Unfinished(t.Context())
	if len(ids) != 1 || ids[0] != "d" {
		t.Fatalf("unfinished %v", ids)
	}
}

// A large batch goes in multi-row statements; a node written twice in one batch ends as its later record.
func TestCommitManyNodes(t *testing.T) {
	m, _ := openStore(t)
	if err := m.CreateDispatch(t.Context(), &DispatchRecord{ID: "d", RootID: "d", ParentNode: -1, Status: ct.StatusRunning, Created: time.Now()}, []byte(`{"nodes":[]}`), ct.Program{}); err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := 0; i < 3*nodesPerStatement+5; i++ {
		b.Nodes = append(b.Nodes, NodeRecord{DispatchID: "d", NodeID: i, NodeState: NodeState{Status: ct.StatusRunning, Attempts: 1}})
	}
	b.Nodes = append(b.Nodes, NodeRecord{DispatchID: "d", NodeID: 7, NodeState: NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`8`), Attempts: 1}})
	if err := m.Commit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	nodes, err := m.Nodes(t.Context(), "d")
	if err != nil || len(nodes) != 3*nodesPerStatement+5 {
		t.Fatalf("%d nodes, %v", len(nodes), err)
	}
	for _, n := range nodes {
		if (n.NodeID == 7) != (n.Status == ct.StatusCompleted) || (n.NodeID == 7 && string(n.Output) != "8") {
			t.Fatalf("node %+v", n)
		}
	}
}

// BenchmarkCommitNodes: the cost per node row of committing completions in batches of 1,000.
func BenchmarkCommitNodes(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := Batch{Nodes: make([]NodeRecord, 1000)}
	now := time.Now()
	for i := range batch.Nodes {
		batch.Nodes[i] = NodeRecord{DispatchID: "d", NodeID: i, NodeState: NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`12345`),
			Started: now, Ended: now, Executor: "pool", Attempts: 1}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Commit(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Nodes)), "ns/row")
}

// A program with modules is kept with its go.mod and go.sum, under a key of all three: a resumed dispatch builds
// with the versions it was shipped with, and the same source with other versions is another program.
func TestProgramsKeepTheirModules(t *testing.T) {
	m, _ := openStore(t)
	plain := ct.Program{Source: "package main // plain"}
	v1 := ct.Program{Source: "package main // mods", GoMod: "module s\n\nrequire example.org/greet v1.2.0\n", GoSum: "example.org/greet v1.2.0 h1:x=\n"}
	v2 := v1
	v2.GoMod, v2.GoSum = "module s\n\nrequire example.org/greet v1.3.0\n", strings.Repeat("example.org/greet v1.3.0 h1:y=\n", InlineLimit/20) // large: an object
	if ProgramKey(plain) != ProgramHash(plain.Source) {
		t.Error("a program without modules is stored under its source's hash, as before")
	}
	if ProgramKey(v1) == ProgramKey(v2) || ProgramKey(v1) == ProgramHash(v1.Source) {
		t.Error("the same source with other modules needs another key")
	}
	for i, p := range []ct.Program{plain, v1, v2} {
		id := fmt.Sprint("d", i)
		rec := &DispatchRecord{ID: id, RootID: id, ParentNode: -1, Status: ct.StatusRunning, Created: time.Now(), ProgramHash: ProgramKey(p)}
		if err := m.CreateDispatch(t.Context(), rec, []byte(`{"nodes":[]}`), p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []ct.Program{plain, v1, v2} {
		got, err := m.Program(t.Context(), ProgramKey(p))
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("program %q back as %+v, %v", p.Source, got, err)
		}
	}
}
