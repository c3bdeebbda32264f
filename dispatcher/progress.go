package dispatcher

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/govalent/govalent/ct"
)

// getProgress answers a dispatch's state in counts (ct.Progress): what a progress display shows, for clients
// that follow the event stream and read the state again when it changes (ct.Client.Watch).
func (d *Dispatcher) getProgress(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	p, err := d.engine.Progress(r.Context(), id)
	if err != nil {
		writeError(w, errorCode(err), fmt.Errorf("dispatch %s: %w", id, err))
		return
	}
	writeJSON(w, 200, p)
}

// Progress returns a dispatch's state in counts. A dispatch in memory (running, or finished recently) is
// counted on the scheduler goroutine, without copying its nodes; one that is not (it finished before a
// restart, or long ago) is counted from its stored result.
func (e *Engine) Progress(ctx context.Context, id string) (*ct.Progress, error) {
	var p *ct.Progress
	if err := e.do(ctx, func() {
		r := e.runs[id]
		if r == nil {
			r = e.recent.get(id)
		}
		if r != nil {
			p = r.progress()
		}
	}); err != nil {
		return nil, err
	}
	if p != nil {
		return p, nil
	}
	// The store cannot count a dispatch's nodes by status yet (results.Store would need one GROUP BY), so
	// they are read; a watcher does it once, for a dispatch that has finished.
	res, err := e.storedResult(ctx, id)
	if err != nil {
		return nil, err
	}
	return ct.ProgressOf(res), nil
}

// progress is ct.ProgressOf(r.snapshot()), without the snapshot: the same states are shown.
func (r *run) progress() *ct.Progress {
	p := &ct.Progress{DispatchID: r.rec.ID, Name: r.rec.Name, Status: r.rec.Status, StartTime: timePtr(r.rec.Started),
		EndTime: timePtr(r.rec.Ended), Error: ct.ErrorHead(r.rec.Error), Nodes: map[ct.Status]int{}, Notes: r.rec.Notes}
	if r.finishing { // as in snapshot: the final state is not stored yet
		p.Status, p.Error, p.EndTime = ct.StatusRunning, "", nil
	}
	for i := range r.nodes {
		st := r.shown(i)
		p.AddNode(i, r.graph.Nodes[i].Name, st.Status, st.Error)
	}
	return p
}
