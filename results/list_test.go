package results

import (
	"fmt"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
)

// Summary counts top-level dispatches only and leaves sublattice nodes out of the compute time (their
// children's nodes are counted instead).
func TestSummary(t *testing.T) {
	m, _ := openStore(t)
	t0 := time.Unix(1_700_000_000, 0)
	add := func(id, parent string, st ct.Status, secs int, errText string) {
		rec := &DispatchRecord{ID: id, RootID: id, ParentID: parent, ParentNode: -1, Name: id, Status: st, Created: t0,
			Started: t0, Ended: t0.Add(time.Duration(secs) * time.Second), Error: errText}
		if err := m.CreateDispatch(t.Context(), rec, []byte(`{"nodes":[]}`), ct.Program{}); err != nil {
			t.Fatal(err)
		}
	}
	add("a", "", ct.StatusCompleted, 10, "")
	add("b", "", ct.StatusFailed, 5, "boom")
	add("c", "", ct.StatusFailed, 7, "bang")
	add("child", "a", ct.StatusFailed, 3, "inner")
	nodes := []NodeRecord{
		{DispatchID: "a", NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Started: t0, Ended: t0.Add(2 * time.Second)}},
		{DispatchID: "a", NodeID: 1, NodeState: NodeState{Status: ct.StatusCompleted, Started: t0, Ended: t0.Add(9 * time.Second), SubDispatchID: "child"}},
		{DispatchID: "child", NodeID: 0, NodeState: NodeState{Status: ct.StatusFailed, Started: t0, Ended: t0.Add(3 * time.Second)}},
		{DispatchID: "b", NodeID: 0, NodeState: NodeState{Status: ct.StatusRunning, Started: t0}}, // not ended: no time yet
	}
	if err := m.SaveSync(t.Context(), Batch{Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	sum, err := m.Summary(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 3 || sum.Counts[ct.StatusCompleted] != 1 || sum.Counts[ct.StatusFailed] != 2 {
		t.Fatalf("counts %v, total %d", sum.Counts, sum.Total)
	}
	if sum.ComputeTime != 5*time.Second || sum.WallTime != 22*time.Second {
		t.Fatalf("compute %v, wall %v", sum.ComputeTime, sum.WallTime)
	}
	if len(sum.RecentFailures) != 1 || sum.RecentFailures[0].ID != "c" {
		t.Fatalf("recent failures %+v", sum.RecentFailures)
	}
}

// A search is a plain substring: % and _ match only themselves. A limit over 1,000 gives 1,000.
func TestListSearchIsLiteral(t *testing.T) {
	m, _ := openStore(t)
	for _, name := range []string{"100% done", "1000 done", "a_b", "axb"} {
		rec := &DispatchRecord{ID: name, RootID: name, ParentNode: -1, Name: name, Status: ct.StatusCompleted, Created: time.Now()}
		if err := m.CreateDispatch(t.Context(), rec, []byte(`{"nodes":[]}`), ct.Program{}); err != nil {
			t.Fatal(err)
		}
	}
	for search, want := range map[string]int{"0%": 1, "a_b": 1, "_": 1, "done": 2} {
		if _, n, err := m.List(t.Context(), ListQuery{Search: search}); err != nil || n != want {
			t.Errorf("search %q: %d matches, want %d (%v)", search, n, want, err)
		}
	}
	for i := range 150 {
		id := fmt.Sprintf("more%d", i)
		if err := m.CreateDispatch(t.Context(), &DispatchRecord{ID: id, RootID: id, ParentNode: -1, Status: ct.StatusCompleted, Created: time.Now()}, []byte(`{"nodes":[]}`), ct.Program{}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _, err := m.List(t.Context(), ListQuery{Limit: 5000}); err != nil || len(got) != 154 {
		t.Fatalf("limit 5000: %d rows, %v", len(got), err)
	}
}
