package executors

import "time"

// RunTimes keeps a moving average of how long each electron (program and entry) has taken, so that executors
// can tell the quick ones, whose tasks are worth batching. It is not safe for concurrent use.
type RunTimes map[string]time.Duration

// RunKey names t's electron in RunTimes.
func RunKey(t *Task) string { return t.ProgramHash + "\x00" + t.Entry }

// Observe records the run time of a successful outcome of t.
func (r RunTimes) Observe(t *Task, oc Outcome) {
	d := oc.End.Sub(oc.Start)
	if oc.Error != "" || oc.Cancelled || d < 0 || oc.Start.IsZero() {
		return
	}
	k := RunKey(t)
	if old, ok := r[k]; ok {
		d = (3*old + d) / 4
	} else if len(r) > 10_000 {
		clear(r) // many programs over a long life: start learning again rather than grow
	}
	r[k] = d
}

// Estimate is the run time expected of t, if its electron has run before.
func (r RunTimes) Estimate(t *Task) (time.Duration, bool) {
	d, ok := r[RunKey(t)]
	return d, ok
}
