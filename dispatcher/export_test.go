package dispatcher

import (
	"context"

	"github.com/govalent/govalent/ct"
)

// SetEventRing makes d's event topics keep n events, so that a test can make a subscriber lag.
func SetEventRing(d *Dispatcher, n int) {
	h := d.engine.hub
	h.mu.Lock()
	h.ring = n
	h.mu.Unlock()
}

// ProgressAndResult are a dispatch's progress and its result, read in one turn of the scheduler; nil while it
// is not in memory.
func ProgressAndResult(d *Dispatcher, id string) (p *ct.Progress, res *ct.Result) {
	e := d.engine
	e.do(context.Background(), func() {
		r := e.runs[id]
		if r == nil {
			r = e.recent.get(id)
		}
		if r != nil {
			p, res = r.progress(), r.snapshot()
		}
	})
	return p, res
}
