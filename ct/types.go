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

	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/ct/wire"
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

// The transport graph's types are package wire's, under the names the SDK has always had.
type (
	NodeKind = wire.NodeKind
	Arg      = wire.Arg
	Node     = wire.Node
	Graph    = wire.Graph
	Program  = wire.Program
	Duration = wire.Duration
)

const (
	KindElectron   = wire.KindElectron
	KindSublattice = wire.KindSublattice
	KindList       = wire.KindList
	KindDict       = wire.KindDict
	KindIndex      = wire.KindIndex
	KindKey        = wire.KindKey
	KindField      = wire.KindField
)

// DispatchRequest is the body of POST /api/v1/dispatches. The lattice's arguments, kept for the result, are
// EncodedInputs (ct/codec), as the SDK sends them, or JSON Inputs from a client in another language.
type DispatchRequest struct {
	Graph         Graph           `json:"graph"`
	Program       Program         `json:"program"`
	Inputs        json.RawMessage `json:"inputs,omitempty"`
	EncodedInputs []byte          `json:"inputs_encoded,omitempty"`
}

// NodeResult is the state of one node of a dispatch.
type NodeResult struct {
	NodeID        int             `json:"node_id"`
	Name          string          `json:"name"`
	Kind          NodeKind        `json:"kind"`
	Status        Status          `json:"status"`
	RawOutput     json.RawMessage `json:"output,omitempty"` // as JSON (see package ct/codec's rendering)
	EncodedOutput []byte          `json:"output_encoded,omitempty"`
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

// Decode decodes the node's output into v.
func (n *NodeResult) Decode(v any) error { return decodeValue(n.EncodedOutput, n.RawOutput, v) }

// Result is the state of a dispatch, partial or final.
type Result struct {
	DispatchID string          `json:"dispatch_id"`
	RootID     string          `json:"root_dispatch_id,omitempty"`
	ParentID   string          `json:"parent_id,omitempty"`
	Name       string          `json:"name"`
	Status     Status          `json:"status"`
	RawResult  json.RawMessage `json:"result,omitempty"` // as JSON (see package ct/codec's rendering)
	// EncodedResult, EncodedInputs and each node's EncodedOutput are the values as they were encoded
	// (ct/codec), which the API sends instead of JSON when asked (?values=encoded), as the SDK does: they keep
	// every Go value (NaN, complex numbers, nil versus empty...).
	EncodedResult []byte          `json:"result_encoded,omitempty"`
	EncodedInputs []byte          `json:"inputs_encoded,omitempty"`
	Result        any             `json:"-"`
	Error         string          `json:"error,omitempty"`
	StartTime     *time.Time      `json:"start_time,omitempty"`
	EndTime       *time.Time      `json:"end_time,omitempty"`
	RawInputs     json.RawMessage `json:"inputs,omitempty"`
	Inputs        any             `json:"-"`
	Notes         []string        `json:"notes,omitempty"`
	Nodes         []NodeResult    `json:"nodes"`
}

// Decode decodes the workflow's result into v.
func (r *Result) Decode(v any) error { return decodeValue(r.EncodedResult, r.RawResult, v) }

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

// fillValues sets the convenience fields (Result, Inputs, each node's Output) and, for values that came
// encoded, their JSON renderings.
func (r *Result) fillValues() {
	r.Result, r.RawResult = plainValue(r.EncodedResult, r.RawResult)
	r.Inputs, r.RawInputs = plainValue(r.EncodedInputs, r.RawInputs)
	for i := range r.Nodes {
		n := &r.Nodes[i]
		n.Output, n.RawOutput = plainValue(n.EncodedOutput, n.RawOutput)
	}
}

// plainValue decodes a value into plain Go values, from its encoding when there is one, and returns it with
// its JSON rendering.
func plainValue(encoded []byte, raw json.RawMessage) (any, json.RawMessage) {
	if len(encoded) == 0 {
		return Value(raw), raw
	}
	v, err := codec.Decode(encoded)
	if err != nil {
		return nil, raw
	}
	if len(raw) == 0 {
		raw, _ = codec.ToJSON(encoded)
	}
	return v, raw
}

func decodeValue(encoded []byte, raw json.RawMessage, v any) error {
	if len(encoded) > 0 {
		return codec.Unmarshal(encoded, v)
	}
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
