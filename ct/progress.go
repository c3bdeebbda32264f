package ct

import (
	"strings"
	"time"
)

// ProgressFailures is how many failed nodes a Progress lists.
const ProgressFailures = 5

// Progress is a dispatch's state in counts: what a progress display shows, and no node's value, output or
// stack. The dispatcher answers it at GET /api/v1/dispatches/{id}/progress; Client.Watch follows it.
type Progress struct {
	DispatchID string     `json:"dispatch_id"`
	Name       string     `json:"name"`
	Status     Status     `json:"status"` // the dispatch's
	StartTime  *time.Time `json:"start_time,omitempty"`
	EndTime    *time.Time `json:"end_time,omitempty"`
	// Error is the head of the dispatch's error (ErrorHead).
	Error string         `json:"error,omitempty"`
	Total int            `json:"total"` // nodes
	Nodes map[Status]int `json:"nodes"` // how many nodes are in each status
	// Failures are the first ProgressFailures failed nodes, by node id.
	Failures []NodeFailure `json:"failures,omitempty"`
	// Notes are the dispatch's notes: how captured values were shipped, whether its electrons run native, and
	// while the first run of a program waits for its native build, that it does.
	Notes []string `json:"notes,omitempty"`
}

// NodeFailure is a failed node in a Progress.
type NodeFailure struct {
	NodeID int    `json:"node_id"`
	Name   string `json:"name"`
	Error  string `json:"error"` // its head (ErrorHead)
}

// Done reports whether the dispatch has finished.
func (p *Progress) Done() bool { return p.Status.Finished() }

// AddNode counts node id (nodes are added in id order) in status s; err is its error, if it failed.
func (p *Progress) AddNode(id int, name string, s Status, err string) {
	if p.Nodes == nil {
		p.Nodes = map[Status]int{}
	}
	p.Total++
	p.Nodes[s]++
	if s == StatusFailed && len(p.Failures) < ProgressFailures {
		p.Failures = append(p.Failures, NodeFailure{NodeID: id, Name: name, Error: ErrorHead(err)})
	}
}

// ProgressOf is r's Progress.
func ProgressOf(r *Result) *Progress {
	p := &Progress{DispatchID: r.DispatchID, Name: r.Name, Status: r.Status, StartTime: r.StartTime, EndTime: r.EndTime,
		Error: ErrorHead(r.Error), Nodes: map[Status]int{}, Notes: r.Notes}
	for _, n := range r.Nodes {
		p.AddNode(n.NodeID, n.Name, n.Status, n.Error)
	}
	return p
}

// ErrorHead is the first line of an error, with its newline if it has one: a display can tell that it was
// cut without the rest (a stack, a long log) being sent.
func ErrorHead(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i+1]
	}
	return s
}
