// Command mkfixture writes the store fixture that TestUpgradeFromV1 opens: run at the commit that made
// results/testdata/fixture-v1 (the schema before versioned migrations) as
//
//	go run ./results/testdata/mkfixture results/testdata/fixture-v1
//
// It stores a completed dispatch with a sublattice (its child dispatch), a value too large for the database
// (kept in objects/), and a failed dispatch. Times are fixed so the fixture is the same each time it is made.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/results"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkfixture DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func write(dir string) error {
	s, err := results.Open(dir)
	if err != nil {
		return err
	}
	m := results.NewManager(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	node := func(id int) *int { return &id }
	large := json.RawMessage(`"` + strings.Repeat("x", results.InlineLimit+1) + `"`)

	graph := func(g ct.Graph) []byte { b, _ := json.Marshal(g); return b }
	parent := ct.Graph{Name: "pipeline", Nodes: []ct.Node{
		{ID: 0, Name: "load", Kind: ct.KindElectron, Entry: "load", Executor: "local"},
		{ID: 1, Name: "inner", Kind: ct.KindSublattice, Entry: "inner", Args: []ct.Arg{{Node: node(0)}}},
	}, Output: ct.Arg{Node: node(1)}}
	child := ct.Graph{Name: "inner", Nodes: []ct.Node{
		{ID: 0, Name: "square", Kind: ct.KindElectron, Entry: "square", Args: []ct.Arg{{Value: json.RawMessage(`3`)}}},
	}, Output: ct.Arg{Node: node(0)}}
	failing := ct.Graph{Name: "broken", Nodes: []ct.Node{
		{ID: 0, Name: "boom", Kind: ct.KindElectron, Entry: "boom", Retries: 1},
	}, Output: ct.Arg{Node: node(0)}}
	const program = "package main\n\nfunc main() {}\n"

	creates := []struct {
		rec   results.DispatchRecord
		graph []byte
	}{
		{results.DispatchRecord{ID: "fixture-completed", RootID: "fixture-completed", ParentNode: -1, Name: "pipeline",
			Status: ct.StatusNew, Created: at(0), Inputs: json.RawMessage(`{"n":3}`), ProgramHash: results.ProgramHash(program),
			Notes: []string{"captured n by value"}, NodeCount: 2}, graph(parent)},
		{results.DispatchRecord{ID: "fixture-child", RootID: "fixture-completed", ParentID: "fixture-completed", ParentNode: 1,
			Name: "inner", Status: ct.StatusNew, Created: at(2), ProgramHash: results.ProgramHash(program), NodeCount: 1}, graph(child)},
		{results.DispatchRecord{ID: "fixture-failed", RootID: "fixture-failed", ParentNode: -1, Name: "broken",
			Status: ct.StatusNew, Created: at(10), ProgramHash: results.ProgramHash(program), NodeCount: 1}, graph(failing)},
	}
	for _, c := range creates {
		if err := m.CreateDispatch(ctx, &c.rec, c.graph, program); err != nil {
			return err
		}
	}
	done := func(id string, started, ended int, status ct.Status, result json.RawMessage, errText string) results.DispatchRecord {
		return results.DispatchRecord{ID: id, Status: status, Started: at(started), Ended: at(ended), Result: result, Error: errText}
	}
	b := results.Batch{
		Nodes: []results.NodeRecord{
			{DispatchID: "fixture-completed", NodeID: 0, NodeState: results.NodeState{Status: ct.StatusCompleted, Output: large,
				Stdout: "loaded\n", Started: at(1), Ended: at(2), Executor: "local", Attempts: 1}},
			{DispatchID: "fixture-completed", NodeID: 1, NodeState: results.NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`9`),
				Started: at(2), Ended: at(4), SubDispatchID: "fixture-child", Attempts: 1}},
			{DispatchID: "fixture-child", NodeID: 0, NodeState: results.NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`9`),
				Stderr: "squaring\n", Started: at(2), Ended: at(3), Executor: "local", Attempts: 1}},
			{DispatchID: "fixture-failed", NodeID: 0, NodeState: results.NodeState{Status: ct.StatusFailed, Error: "boom: it broke",
				Stack: "goroutine 1 [running]:\nmain.boom()", Started: at(11), Ended: at(12), Executor: "local", Attempts: 2}},
		},
		Dispatches: []results.DispatchRecord{
			done("fixture-child", 2, 3, ct.StatusCompleted, json.RawMessage(`9`), ""),
			done("fixture-completed", 1, 4, ct.StatusCompleted, json.RawMessage(`9`), ""),
			done("fixture-failed", 11, 12, ct.StatusFailed, nil, "node 0 (boom): boom: it broke"),
		},
	}
	if err := m.SaveSync(ctx, b); err != nil {
		return err
	}
	return m.Close()
}
