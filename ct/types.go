// Package ct is the govalent SDK: electrons, lattices, dispatch and results.
//
// The same package is imported by notebook cells (through the interpreter in package interp) and by compiled Go
// programs. Its wire types (Graph, Node, Result) are the contract between the SDK, the dispatcher and workers.
package ct

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Status is the state of a dispatch or a node. The names are Covalent's.
type Status string

const (
	// StatusNew: created, not started (a node whose inputs are not ready yet).
	StatusNew Status = "NEW_OBJECT"
	// StatusRunning: a dispatch in progress, or a node handed to an executor.
	StatusRunning Status = "RUNNING"
	// StatusCompleted: finished, output durable.
	StatusCompleted Status = "COMPLETED"
	// StatusFailed: the node raised an error (or, for a dispatch, at least one node did).
	StatusFailed Status = "FAILED"
	// StatusCancelled: stopped by ct.Cancel.
	StatusCancelled Status = "CANCELLED"
)

// Finished reports whether s is a final state.
func (s Status) Finished() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// NodeKind tells the dispatcher how to produce a node's output.
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

// Validate checks a graph's shape, as the dispatcher does before it accepts one: node ids are their positions,
// every node kind has its inputs, references point at nodes, and there is no cycle.
func (g *Graph) Validate() error {
	n := len(g.Nodes)
	indeg := make([]int, n)
	deps := make([][]int, n)
	for i := range g.Nodes {
		nd := &g.Nodes[i]
		if nd.ID != i {
			return fmt.Errorf("node %d has id %d; ids must be 0..n-1 in order", i, nd.ID)
		}
		switch nd.Kind {
		case KindElectron, KindSublattice:
			if nd.Entry == "" {
				return fmt.Errorf("node %d (%s) has no entry", i, nd.Name)
			}
		case KindList, KindDict:
		case KindIndex, KindKey, KindField:
			if len(nd.Args) != 1 {
				return fmt.Errorf("node %d (%s) selects from %d inputs; a %s node takes exactly one", i, nd.Name, len(nd.Args), nd.Kind)
			}
		default:
			return fmt.Errorf("node %d has unknown kind %q", i, nd.Kind)
		}
		if nd.Retries < 0 || nd.TimeLimit < 0 {
			return fmt.Errorf("node %d (%s) has a negative retry count or time limit", i, nd.Name)
		}
		for _, d := range nd.Deps() {
			if d < 0 || d >= n {
				return fmt.Errorf("node %d refers to node %d, which does not exist", i, d)
			}
			deps[d] = append(deps[d], i)
			indeg[i]++
		}
	}
	if o := g.Output.Node; o != nil && (*o < 0 || *o >= n) {
		return fmt.Errorf("the output refers to node %d, which does not exist", *o)
	}
	var queue []int
	for i, d := range indeg {
		if d == 0 {
			queue = append(queue, i)
		}
	}
	seen := 0
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		seen++
		for _, c := range deps[i] {
			if indeg[c]--; indeg[c] == 0 {
				queue = append(queue, c)
			}
		}
	}
	if seen != n {
		return fmt.Errorf("the graph has a cycle")
	}
	return nil
}

// Program is the source a worker rebuilds a dispatch's electrons from.
type Program struct {
	Source string   `json:"source"`
	Notes  []string `json:"notes,omitempty"` // how captured variables were shipped
}

// DispatchRequest is the body of POST /api/v1/dispatches.
type DispatchRequest struct {
	Graph   Graph           `json:"graph"`
	Program Program         `json:"program"`
	Inputs  json.RawMessage `json:"inputs,omitempty"`
}

// NodeResult is the state of one node of a dispatch.
type NodeResult struct {
	NodeID        int             `json:"node_id"`
	Name          string          `json:"name"`
	Kind          NodeKind        `json:"kind"`
	Status        Status          `json:"status"`
	RawOutput     json.RawMessage `json:"output,omitempty"`
	Output        any             `json:"-"`
	Error         string          `json:"error,omitempty"`
	Stack         string          `json:"stack,omitempty"` // where a panic happened: cell frames, then Go's
	Stdout        string          `json:"stdout,omitempty"`
	Stderr        string          `json:"stderr,omitempty"`
	StartTime     *time.Time      `json:"start_time,omitempty"`
	EndTime       *time.Time      `json:"end_time,omitempty"`
	Executor      string          `json:"executor,omitempty"`
	SubDispatchID string          `json:"sub_dispatch_id,omitempty"`
	Attempts      int             `json:"attempts,omitempty"`
	Deps          []int           `json:"deps,omitempty"`
}

// Decode unmarshals the node's output into v.
func (n *NodeResult) Decode(v any) error { return decodeRaw(n.RawOutput, v) }

// Result is the state of a dispatch, partial or final.
type Result struct {
	DispatchID string          `json:"dispatch_id"`
	RootID     string          `json:"root_dispatch_id,omitempty"`
	ParentID   string          `json:"parent_id,omitempty"`
	Name       string          `json:"name"`
	Status     Status          `json:"status"`
	RawResult  json.RawMessage `json:"result,omitempty"`
	Result     any             `json:"-"`
	Error      string          `json:"error,omitempty"`
	StartTime  *time.Time      `json:"start_time,omitempty"`
	EndTime    *time.Time      `json:"end_time,omitempty"`
	RawInputs  json.RawMessage `json:"inputs,omitempty"`
	Inputs     any             `json:"-"`
	Notes      []string        `json:"notes,omitempty"`
	Nodes      []NodeResult    `json:"nodes"`
}

// Decode unmarshals the workflow's result into v.
func (r *Result) Decode(v any) error { return decodeRaw(r.RawResult, v) }

// Node returns the node with the given id, or nil.
func (r *Result) Node(id int) *NodeResult {
	for i := range r.Nodes {
		if r.Nodes[i].NodeID == id {
			return &r.Nodes[i]
		}
	}
	return nil
}

// NodeByName returns the first node with the given name, or nil.
func (r *Result) NodeByName(name string) *NodeResult {
	for i := range r.Nodes {
		if r.Nodes[i].Name == name {
			return &r.Nodes[i]
		}
	}
	return nil
}

func (r *Result) String() string {
	s := fmt.Sprintf("dispatch %s (%s): %s", r.DispatchID, r.Name, r.Status)
	if r.Status == StatusCompleted {
		s += " result=" + string(r.RawResult)
	}
	if r.Error != "" {
		s += " error=" + r.Error
	}
	return s
}

// fillValues sets the convenience fields decoded from the raw JSON ones.
func (r *Result) fillValues() {
	r.Result = Value(r.RawResult)
	r.Inputs = Value(r.RawInputs)
	for i := range r.Nodes {
		r.Nodes[i].Output = Value(r.Nodes[i].RawOutput)
	}
}

func decodeRaw(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("ct: no value to decode")
	}
	return json.Unmarshal(raw, v)
}

// Value decodes JSON into plain Go values, with integral numbers as int (so res.Result == 770 holds) and other
// numbers as float64. It returns nil for empty input.
func Value(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return normalizeNumbers(v)
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil && int64(int(i)) == i {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeNumbers(x[k])
		}
	}
	return v
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
