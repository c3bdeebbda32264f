// Package wire holds the transport graph and program that pass between the SDK (package ct, which re-exports
// them under the same names), the dispatcher and the executors. It depends on the standard library alone, so
// that the executor contract (package executors) stays small.
package wire

import (
	"encoding/json"
	"time"
)

// NodeKind tells the dispatcher how to produce a node's output. The kinds an executor runs (KindElectron,
// KindSublattice) are also the kinds of its tasks.
type NodeKind string

const (
	KindElectron   NodeKind = "electron"   // user code, run by an executor
	KindSublattice NodeKind = "sublattice" // a lattice run as a child dispatch
	KindList       NodeKind = "list"       // collects its arguments into a JSON array
	KindDict       NodeKind = "dict"       // collects its named arguments into a JSON object
	KindIndex      NodeKind = "index"      // element Index of its argument
	KindKey        NodeKind = "key"        // map value at Key of its argument
	KindField      NodeKind = "field"      // struct field (JSON name Key) of its argument
)

// FilesSetting is the executor setting (ct.With key) that carries an electron's transfers to its worker.
const FilesSetting = "files"

// Arg is one input of a node: either a constant JSON value or the output of another node.
type Arg struct {
	Name  string          `json:"name,omitempty"` // parameter name (or dict key for KindDict)
	Node  *int            `json:"node,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Node is one vertex of the transport graph.
type Node struct {
	ID        int      `json:"node_id"`
	Name      string   `json:"name"`
	Kind      NodeKind `json:"kind"`
	Entry     string   `json:"entry,omitempty"` // program symbol a worker calls (electron, sublattice)
	Args      []Arg    `json:"args,omitempty"`
	Index     int      `json:"index,omitempty"` // KindIndex
	Key       string   `json:"key,omitempty"`   // KindKey, KindField
	WaitFor   []int    `json:"wait_for,omitempty"`
	Executor  string   `json:"executor,omitempty"`
	Queue     string   `json:"queue,omitempty"`
	Retries   int      `json:"retries,omitempty"`
	TimeLimit Duration `json:"time_limit,omitempty"`
	// Settings are the electron's executor settings (ct.With), over the dispatcher's configured ones.
	Settings map[string]json.RawMessage `json:"settings,omitempty"`
}

// Deps lists the nodes whose completion n waits for: its inputs and its wait-for edges.
func (n *Node) Deps() []int {
	deps := make([]int, 0, len(n.Args)+len(n.WaitFor))
	for _, a := range n.Args {
		if a.Node != nil {
			deps = append(deps, *a.Node)
		}
	}
	return append(deps, n.WaitFor...)
}

// Graph is a lattice unrolled for concrete arguments.
type Graph struct {
	Name     string `json:"name"`
	Nodes    []Node `json:"nodes"`
	Output   Arg    `json:"output"`             // what the lattice returned
	Executor string `json:"executor,omitempty"` // the lattice's default executor
}

// Program is the source a worker rebuilds a dispatch's electrons from.
type Program struct {
	Source string   `json:"source"`
	Notes  []string `json:"notes,omitempty"` // how captured variables were shipped
}

// Duration is a time.Duration that travels as milliseconds in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Milliseconds())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}
