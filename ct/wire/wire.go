// Package wire holds the transport graph and program that pass between the SDK (package ct, which re-exports
// them under the same names), the dispatcher and the executors. It depends on the standard library alone, so
// that the executor contract (package executors) stays small.
package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
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

// Arg is one input of a node: a constant or the output of another node. The SDK writes a constant encoded
// (package ct/codec), which keeps every Go value; a client in another language may write it as JSON in Value
// instead, which the dispatcher encodes when it accepts the graph.
type Arg struct {
	Name    string          `json:"name,omitempty"` // parameter name (or dict key for KindDict)
	Node    *int            `json:"node,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Encoded []byte          `json:"encoded,omitempty"`
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
	// Interpreted runs the electron in the interpreter even where its program has a native binary.
	Interpreted bool `json:"interpreted,omitempty"`
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
	// Binaries are set when a compiled Go program built the graph (see ct.Main): that program's own executable,
	// by platform ("linux/amd64"), named by the sha256 of its content, which the program uploads to the
	// dispatcher (PUT /api/v1/binaries/{sha256}). Its electrons' entries are funcs registered in that
	// executable, so they run in it and nowhere else.
	Binaries map[string]string `json:"binaries,omitempty"`
}

// NativeServeEnv is set to "1" in the environment of a native worker binary's process: a compiled program
// started that way serves its electrons (ct.Main) instead of running its main.
const NativeServeEnv = "GOVALENT_NATIVE_SERVE"

// Program is the source a worker rebuilds a dispatch's electrons from.
type Program struct {
	Source string   `json:"source"`
	Notes  []string `json:"notes,omitempty"` // how captured variables were shipped
	// GoMod and GoSum are the session's go.mod and go.sum, shipped with a program that imports packages outside
	// the standard library: its native worker is built with the versions they name, and no worker ever resolves a
	// module itself. Empty for a program of the standard library alone.
	GoMod string `json:"go_mod,omitempty"`
	GoSum string `json:"go_sum,omitempty"`
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

// Validate checks a graph's shape, as the dispatcher does before it accepts one: node ids are their positions,
// every node kind has its inputs, references point at nodes, and there is no cycle.
func (g *Graph) Validate() error {
	for platform, hash := range g.Binaries {
		if !IsSHA256(hash) {
			return fmt.Errorf("the executable for %s is named %q, not by a sha256 (64 lowercase hex digits)", platform, hash)
		}
	}
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
			if nd.Kind == KindSublattice && len(g.Binaries) > 0 {
				return fmt.Errorf("node %d (%s) is a sublattice, which a compiled program cannot dispatch", i, nd.Name)
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

// IsSHA256 tells whether s is a sha256 in hex, as binaries are named.
func IsSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NativeCall is what a worker process sends the native binary of a program (see ct.ServeNative): one electron
// to run, with its arguments as the dispatcher encoded them. The worker sends calls ahead, while earlier ones
// run; the binary answers each with a NativeReply, in order.
type NativeCall struct {
	Seq     uint64 // numbers the calls sent to one process, from 1, so that a Skip can name one
	Entry   string
	Args    [][]byte
	StartBy int64 // unix nanoseconds after which the call must not start; 0: no limit
	// Skip, when nonzero, makes this no call but the cancellation of call Seq == Skip, sent earlier: if it has
	// not started, it does not, and its reply says Skipped.
	Skip uint64
	// Files is what ct.ArrivedFiles reads (the environment variable ct.FilesEnv), which the worker process
	// sets for the call after the electron's file transfers.
	Files string
}

// NativeReply answers a NativeCall: the electron's output, or how it failed (a returned error, a panic, or
// arguments it cannot take), with the stack and the cell line ("cell3:5") of a panic; or that it did not start.
// Start and End are the call's own time. Stdout and Stderr are the sizes of fds 1 and 2 when it ended: the
// worker process, whose capture files those are, takes what was written to them since the call before (or since
// it sent the first call of a run) for this call's output.
type NativeReply struct {
	Output  []byte
	Error   string
	Stack   string
	Cell    string
	Skipped bool // cancelled by a Skip before it started
	Late    bool // its StartBy had passed
	Start   int64
	End     int64
	Stdout  int64
	Stderr  int64
}

// Calls and replies travel between a worker process and a native worker as their fields in order: integers as
// varints, strings and byte slices after their length, as encoding/binary writes them, and the reply's flags as
// one byte. A worker sends one call per task, so they are coded by hand, without reflection.

// WriteNativeCall writes c to w. An error shows when w is flushed.
func WriteNativeCall(w *bufio.Writer, c *NativeCall) {
	writeUvarint(w, c.Seq)
	writeString(w, c.Entry)
	writeUvarint(w, uint64(len(c.Args)))
	for _, a := range c.Args {
		writeUvarint(w, uint64(len(a)))
		w.Write(a)
	}
	writeVarint(w, c.StartBy)
	writeUvarint(w, c.Skip)
	writeString(w, c.Files)
}

// ReadNativeCall reads a call that WriteNativeCall wrote. At the end of r, before a call, it returns io.EOF.
func ReadNativeCall(r *bufio.Reader) (*NativeCall, error) {
	var c NativeCall
	d := nativeReader{r: r}
	c.Seq = d.uvarint()
	if d.err == io.EOF {
		return nil, io.EOF
	}
	c.Entry = string(d.bytes())
	n := d.uvarint()
	c.Args = make([][]byte, 0, min(n, 64)) // a count is trusted no more than a length (see bigField)
	for ; n > 0 && d.err == nil; n-- {
		c.Args = append(c.Args, d.bytes())
	}
	c.StartBy = d.varint()
	c.Skip = d.uvarint()
	c.Files = string(d.bytes())
	return &c, d.failed("call")
}

// WriteNativeReply writes rep to w. An error shows when w is flushed.
func WriteNativeReply(w *bufio.Writer, rep *NativeReply) {
	writeUvarint(w, uint64(len(rep.Output)))
	w.Write(rep.Output)
	writeString(w, rep.Error)
	writeString(w, rep.Stack)
	writeString(w, rep.Cell)
	var flags byte
	if rep.Skipped {
		flags |= replySkipped
	}
	if rep.Late {
		flags |= replyLate
	}
	w.WriteByte(flags)
	writeVarint(w, rep.Start)
	writeVarint(w, rep.End)
	writeVarint(w, rep.Stdout)
	writeVarint(w, rep.Stderr)
}

// ReadNativeReply reads a reply that WriteNativeReply wrote. At the end of r, before a reply, it returns io.EOF.
func ReadNativeReply(r *bufio.Reader) (*NativeReply, error) {
	var rep NativeReply
	d := nativeReader{r: r}
	n := d.uvarint()
	if d.err == io.EOF {
		return nil, io.EOF
	}
	if rep.Output = d.read(n); len(rep.Output) == 0 {
		rep.Output = nil
	}
	rep.Error = string(d.bytes())
	rep.Stack = string(d.bytes())
	rep.Cell = string(d.bytes())
	flags := d.byte()
	rep.Skipped, rep.Late = flags&replySkipped != 0, flags&replyLate != 0
	rep.Start = d.varint()
	rep.End = d.varint()
	rep.Stdout = d.varint()
	rep.Stderr = d.varint()
	return &rep, d.failed("reply")
}

const (
	replySkipped = 1 << iota
	replyLate
)

func writeUvarint(w *bufio.Writer, v uint64) {
	for ; v >= 0x80; v >>= 7 {
		w.WriteByte(byte(v) | 0x80)
	}
	w.WriteByte(byte(v))
}

// writeVarint writes v zig-zag encoded, as binary.AppendVarint does.
func writeVarint(w *bufio.Writer, v int64) {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	writeUvarint(w, u)
}

func writeString(w *bufio.Writer, s string) {
	writeUvarint(w, uint64(len(s)))
	w.WriteString(s)
}

// nativeReader reads the fields of a call or a reply, keeping the first error: after it, fields read as zero.
type nativeReader struct {
	r   *bufio.Reader
	err error
}

func (d *nativeReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	v, d.err = binary.ReadUvarint(d.r)
	return v
}

func (d *nativeReader) byte() byte {
	if d.err != nil {
		return 0
	}
	var b byte
	b, d.err = d.r.ReadByte()
	return b
}

func (d *nativeReader) varint() int64 {
	if d.err != nil {
		return 0
	}
	var v int64
	v, d.err = binary.ReadVarint(d.r)
	return v
}

// bigField is the length up to which a byte slice is allocated at once. Past it, the slice grows as its bytes
// come, so that a length that the stream does not hold fails at the stream's end rather than allocate it all.
const bigField = 64 << 20

// bytes reads a byte slice after its length.
func (d *nativeReader) bytes() []byte { return d.read(d.uvarint()) }

// read reads n bytes.
func (d *nativeReader) read(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	p := make([]byte, 0, min(n, bigField))
	for uint64(len(p)) < n && d.err == nil {
		chunk := int(min(n-uint64(len(p)), bigField))
		p = slices.Grow(p, chunk)
		var k int
		k, d.err = io.ReadFull(d.r, p[len(p):len(p)+chunk])
		p = p[:len(p)+k]
	}
	return p
}

// failed is the error that ended the reading of a call or a reply, if any.
func (d *nativeReader) failed(what string) error {
	switch d.err {
	case nil:
		return nil
	case io.EOF:
		d.err = io.ErrUnexpectedEOF // within a call or a reply
	}
	return fmt.Errorf("reading a native %s: %w", what, d.err)
}
