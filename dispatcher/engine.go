// Package dispatcher runs workflows: it keeps each dispatch's transport graph, hands ready nodes to executors,
// stores every outcome through the result manager before acting on it, resumes unfinished dispatches after a
// restart, and serves the HTTP API.
package dispatcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/results"
	"github.com/jonboulle/clockwork"
)

// DefaultExecutor runs electrons that name none.
const DefaultExecutor = "pool"

// defaultMaxInFlight bounds the tasks handed to one executor at once: a 100,000-task fan-out keeps this many
// tasks' arguments in flight, not all of them.
const defaultMaxInFlight = 20_000

// heldTask is a node waiting for room on its executor.
type heldTask struct {
	r *run
	i int
}

// Engine is the scheduler. All dispatch state is owned by one goroutine, which runs the closures posted to its
// queue; executors, the store and HTTP handlers talk to it only that way. That goroutine never waits for the
// store or the network: what reads or writes the store synchronously (storing a child dispatch, reading one)
// runs on a goroutine of its own and posts its result back.
type Engine struct {
	store     *results.Manager
	executors map[string]executors.Executor
	log       *slog.Logger
	clock     clockwork.Clock // times the retries' backoff; tests advance a fake one
	// ctx bounds the store work done off the scheduler goroutine; Close cancels it (what was not stored is
	// resumed at the next start).
	ctx      context.Context
	cancelIO context.CancelFunc
	mu       sync.Mutex
	queue    []func() // closures for the scheduler goroutine, in order
	wake     chan struct{}
	runs     map[string]*run
	recent   recentRuns // finished runs still in memory, so fetching a result just after the end is cheap
	hub      *hub
	tasks    *taskMetrics
	// Backpressure: at most maxInFlight tasks are handed to each executor at once; the rest wait as node
	// numbers, their tasks (arguments and all) built only when there is room.
	maxInFlight int
	inFlight    map[string]int
	held        map[string][]heldTask
	stopped     chan struct{}
	loopDone    chan struct{}
	closeOnce   sync.Once
	native      nativeTier
	// builds are the goroutines building native binaries, which Close waits for: a build writes in DataDir.
	builds sync.WaitGroup
	// nativeMetrics count native builds; written from build goroutines (the counters are safe for that).
	nativeMetrics *nativeMetrics
}

// run is a dispatch in progress.
type run struct {
	rec        results.DispatchRecord
	graph      *ct.Graph
	program    string
	nodes      []node
	dependents [][]int
	active     int // nodes handed out (to an executor, a child dispatch, or the store) and not settled
	cancelled  bool
	parent     *run
	parentNode int
	children   map[int]*run // sublattice node -> child dispatch
	waiters    []chan struct{}
	finishing  bool
	// native is the program's worker binary, once built; nativeTried: a build was started or ruled out.
	native      map[string]executors.Binary // by platform
	nativeTried bool
	nativeUsed  time.Time // when its binaries were last marked used (nativeTask)
	// goMod and goSum came with the program from the session, when it imports modules (its native worker is
	// built with them); stored with it, so that a resumed dispatch builds with the same versions.
	goMod, goSum string
	sourceHash   string // results.ProgramHash of program, which tasks carry
}

// node is a node of a dispatch in progress: its state, as stored and shown, and what scheduling it needs.
type node struct {
	results.NodeState
	taskID  string
	pending int  // unfinished dependencies
	busy    bool // handed out and not settled
	held    bool // waiting for room on its executor
	// retryPending: a failed attempt waits for its backoff before the next one; no executor holds it
	retryPending bool
	released     bool // its dependents were told it completed
	// adoptable: unfinished when its dispatch was resumed, and not handed out since; a task of it from before
	// the restart may still run on an executors.Adopter
	adoptable bool
}

// NewEngine starts the scheduler goroutine.
func NewEngine(store *results.Manager, execs map[string]executors.Executor, log *slog.Logger) *Engine {
	e := &Engine{store: store, executors: execs, log: log, clock: clockwork.NewRealClock(), wake: make(chan struct{}, 1),
		runs: map[string]*run{}, hub: newHub(), tasks: newTaskMetrics(), nativeMetrics: newNativeMetrics(), maxInFlight: defaultMaxInFlight, inFlight: map[string]int{},
		held: map[string][]heldTask{}, stopped: make(chan struct{}), loopDone: make(chan struct{})}
	e.ctx, e.cancelIO = context.WithCancel(context.Background())
	go e.loop()
	return e
}

func (e *Engine) loop() {
	defer close(e.loopDone)
	for {
		select {
		case <-e.wake:
		case <-e.stopped:
			return
		}
		e.mu.Lock()
		batch := e.queue
		e.queue = nil
		e.mu.Unlock()
		for _, f := range batch {
			select {
			case <-e.stopped:
				return // what is left is resumed by the next start
			default:
				e.guard(nil, f)
			}
		}
	}
}

// post runs f on the scheduler goroutine later. It never blocks: the store's writer and the executors post
// outcomes while the scheduler may be waiting to hand the store more work.
func (e *Engine) post(f func()) {
	e.mu.Lock()
	e.queue = append(e.queue, f)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// postFor is post for work on dispatch r: a panic in f fails r's dispatch, not the dispatcher.
func (e *Engine) postFor(r *run, f func()) {
	e.post(func() { e.guard(r, f) })
}

// guard runs f on the scheduler goroutine. A panic in f is a bug in the engine; it must not take the
// dispatcher down (a restart would replay the same dispatch and crash again), so it fails the dispatch tree
// of r, with the panic and its stack as the error, and scheduling goes on.
func (e *Engine) guard(r *run, f func()) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		stack := string(debug.Stack())
		if r == nil {
			e.log.Error("internal error in the scheduler", "panic", fmt.Sprint(p), "stack", stack)
			return
		}
		e.log.Error("internal error while scheduling a dispatch; failing it", "dispatch", r.rec.ID, "panic", fmt.Sprint(p), "stack", stack)
		e.failTree(r, fmt.Sprintf("internal error in the dispatcher while scheduling this dispatch: %v", p), stack)
	}()
	f()
}

// do runs f on the scheduler goroutine and waits for it, or until ctx is done (ctx's error: f runs all the
// same, so the caller must not read what f writes) or the engine stops (nil).
func (e *Engine) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	e.post(func() { defer close(done); f() })
	select {
	case <-done:
		return nil
	case <-e.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops scheduling; running tasks are abandoned, to be resumed by the next start.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		e.cancelIO()
		close(e.stopped)
	})
	<-e.loopDone
	e.builds.Wait()
}

// ErrBadRequest wraps errors in what a client sent.
var ErrBadRequest = errors.New("bad request")

// Submit stores a new dispatch durably and starts it; it returns the dispatch id.
func (e *Engine) Submit(ctx context.Context, req *ct.DispatchRequest) (string, error) {
	rec, graph, err := newDispatch(req)
	if err != nil {
		return "", err
	}
	if err := e.native.uploads.check(req.Graph.Binaries); err != nil {
		return "", err
	}
	if err := e.create(ctx, &rec, graph, req.Program); err != nil {
		return "", err
	}
	r := newRun(rec, &req.Graph, req.Program)
	// Not ctx: once stored, the dispatch starts, whether or not the client waits for its id.
	e.do(context.Background(), func() { e.begin(r, nil, -1) })
	return rec.ID, nil
}

// newDispatch checks req and makes its record, a top-level dispatch's, and its graph's JSON.
func newDispatch(req *ct.DispatchRequest) (results.DispatchRecord, []byte, error) {
	if err := req.Graph.Validate(); err != nil {
		return results.DispatchRecord{}, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err := encodeGraph(&req.Graph); err != nil {
		return results.DispatchRecord{}, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	inputs, err := encodeInputs(req)
	if err != nil {
		return results.DispatchRecord{}, nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	graph, err := json.Marshal(&req.Graph)
	if err != nil {
		return results.DispatchRecord{}, nil, err
	}
	id := uuid.NewString()
	rec := results.DispatchRecord{
		ID: id, RootID: id, ParentNode: -1, Name: req.Graph.Name, Status: ct.StatusNew, Created: time.Now().UTC(),
		Inputs: inputs, Notes: req.Program.Notes, NodeCount: len(req.Graph.Nodes),
	}
	if req.Program.Source != "" {
		rec.ProgramHash = results.ProgramKey(req.Program)
	}
	return rec, graph, nil
}

// create stores a new dispatch durably; it is not called on the scheduler goroutine. It is refused while the
// store cannot write (its errors wrap results.ErrUnavailable): the dispatch's outcomes could not be stored
// either.
func (e *Engine) create(ctx context.Context, rec *results.DispatchRecord, graph []byte, program ct.Program) error {
	if err := e.store.Writable(); err != nil {
		return err
	}
	if err := e.store.CreateDispatch(ctx, rec, graph, program); err != nil {
		return fmt.Errorf("storing the dispatch: %w", err)
	}
	return nil
}

// begin starts the stored dispatch r: a child dispatch, run for node parentNode of parent, when parent is set.
func (e *Engine) begin(r, parent *run, parentNode int) {
	if parent != nil {
		r.parent, r.parentNode = parent, parentNode
		parent.children[parentNode] = r
	}
	e.runs[r.rec.ID] = r
	e.guard(r, func() { e.start(r, nil, false) })
}

func newRun(rec results.DispatchRecord, g *ct.Graph, program ct.Program) *run {
	r := &run{rec: rec, graph: g, program: program.Source, goMod: program.GoMod, goSum: program.GoSum, sourceHash: results.ProgramHash(program.Source), nodes: make([]node, len(g.Nodes)), dependents: make([][]int, len(g.Nodes)), children: map[int]*run{}, parentNode: -1}
	for i := range g.Nodes {
		r.nodes[i].Status = ct.StatusNew
		for _, d := range g.Nodes[i].Deps() {
			r.dependents[d] = append(r.dependents[d], i)
		}
	}
	return r
}

// start marks the dispatch running and schedules every node whose dependencies are done. stored holds the
// node rows of a resumed dispatch (resumed).
func (e *Engine) start(r *run, stored []results.NodeRecord, resumed bool) {
	for _, rec := range stored {
		if rec.NodeID < 0 || rec.NodeID >= len(r.nodes) {
			continue
		}
		n := &r.nodes[rec.NodeID]
		if rec.Status.Finished() {
			n.NodeState = rec.NodeState
		} else { // it runs again, with what a restart needs of its row (see handOut)
			n.Attempts, n.Executor, n.Started, n.SubDispatchID = rec.Attempts, rec.Executor, rec.Started, rec.SubDispatchID
		}
	}
	if resumed { // a node without a finished row may have been running (first attempts have no row)
		for i := range r.nodes {
			r.nodes[i].adoptable = !r.nodes[i].Status.Finished()
		}
	}
	for i := range r.graph.Nodes {
		for _, d := range r.graph.Nodes[i].Deps() {
			if r.nodes[d].Status != ct.StatusCompleted {
				r.nodes[i].pending++
			}
		}
	}
	if r.rec.Started.IsZero() {
		r.rec.Started = time.Now().UTC()
	}
	r.rec.Status = ct.StatusRunning
	e.store.Save(results.Batch{Dispatches: []results.DispatchRecord{r.rec}}, nil)
	e.hub.publish(Event{Type: "dispatch", DispatchID: r.rec.ID, Status: r.rec.Status})
	if e.startNative(r) {
		return // its nodes are scheduled once the build ends
	}
	e.scheduleReady(r)
}

// scheduleReady schedules every node of r whose dependencies are done.
func (e *Engine) scheduleReady(r *run) {
	for i := range r.nodes {
		if r.nodes[i].Status == ct.StatusNew && r.nodes[i].pending == 0 {
			e.schedule(r, i)
		}
	}
	e.maybeFinish(r)
}

// schedule runs node i, whose dependencies are all COMPLETED.
func (e *Engine) schedule(r *run, i int) {
	if r.cancelled {
		return
	}
	nd := &r.graph.Nodes[i]
	n := &r.nodes[i]
	n.Status, n.busy = ct.StatusRunning, true
	n.Started = time.Now().UTC()
	n.Error, n.Stack = "", ""
	r.active++
	e.hub.publish(Event{Type: "node", DispatchID: r.rec.ID, NodeID: &i, Status: n.Status, Name: nd.Name})
	switch nd.Kind {
	case ct.KindElectron, ct.KindSublattice:
		if child := r.children[i]; child != nil {
			return // a resumed sublattice whose child dispatch is running again
		}
		if n.SubDispatchID != "" {
			e.resumeChild(r, i)
			return
		}
		e.submitTask(r, i)
	default:
		out, err := r.collect(nd)
		now := time.Now().UTC()
		if err != nil {
			e.settle(r, i, executors.Outcome{Error: err.Error(), Start: now, End: now})
		} else {
			e.settle(r, i, executors.Outcome{Output: out, Start: now, End: now})
		}
	}
}

func (e *Engine) executorName(r *run, nd *ct.Node) string {
	switch {
	case nd.Executor != "":
		return nd.Executor
	case r.graph.Executor != "":
		return r.graph.Executor
	}
	return DefaultExecutor
}

func (e *Engine) submitTask(r *run, i int) {
	nd := &r.graph.Nodes[i]
	n := &r.nodes[i]
	n.Executor = e.executorName(r, nd)
	ex := e.executors[n.Executor]
	if ex == nil {
		n.Attempts++
		now := time.Now().UTC()
		e.settle(r, i, executors.Outcome{Error: fmt.Sprintf("unknown executor %q (this dispatcher has: %s)", n.Executor, strings.Join(e.executorNames(), ", ")), Start: now, End: now})
		return
	}
	if msg := e.compiledMismatch(r, nd, ex); msg != "" { // not an attempt: running it again cannot help
		now := time.Now().UTC()
		e.settle(r, i, executors.Outcome{Error: msg, Start: now, End: now})
		return
	}
	if e.inFlight[n.Executor] >= e.maxInFlight {
		n.held, n.taskID = true, ""
		e.held[n.Executor] = append(e.held[n.Executor], heldTask{r, i})
		return
	}
	e.handOut(r, i, ex)
}

// handOut builds node i's task and gives it to ex.
func (e *Engine) handOut(r *run, i int, ex executors.Executor) {
	nd := &r.graph.Nodes[i]
	n := &r.nodes[i]
	n.Attempts++
	e.inFlight[n.Executor]++
	args := r.nodeArgs(i)
	t := &executors.Task{
		ID: fmt.Sprintf("%s/%d/%d", r.rec.ID, i, n.Attempts), DispatchID: r.rec.ID, NodeID: i, Kind: nd.Kind,
		Entry: nd.Entry, ProgramHash: r.sourceHash, Program: r.program, Args: args,
		TimeLimit: time.Duration(nd.TimeLimit), Queue: nd.Queue, Settings: nd.Settings,
	}
	e.nativeTask(r, nd, t)
	n.taskID = t.ID
	// A RUNNING node runs again after a restart anyway, so its row is written only when a restart needs what it
	// holds: the attempts a retry has used, or a sublattice's link to its child. (Not waiting for it, and not
	// writing it for the first attempt of every electron, halves the writes of a large fan-out.)
	if n.Attempts > 1 || nd.Kind == ct.KindSublattice {
		e.store.Save(results.Batch{Nodes: []results.NodeRecord{r.nodeRecord(i)}}, nil)
	}
	name := n.Executor
	e.tasks.started.WithLabelValues(name).Inc()
	submit := ex.Submit
	if a, ok := ex.(executors.Adopter); ok && n.adoptable {
		submit = a.Adopt
	}
	n.adoptable = false
	submit(t, func(oc executors.Outcome) {
		e.postFor(r, func() {
			e.released(name)
			if n.taskID != t.ID || !n.busy {
				return // a late outcome of an attempt that was already settled
			}
			e.settle(r, i, oc)
			e.tasks.settled(name, oc, n.retryPending) // settle marks a failure it retries as retryPending
		})
	})
}

// released frees a task's room on an executor and hands out the next held node that still wants to run.
func (e *Engine) released(executor string) {
	e.inFlight[executor]--
	for e.inFlight[executor] < e.maxInFlight && len(e.held[executor]) > 0 {
		h := e.held[executor][0]
		e.held[executor][0] = heldTask{}
		e.held[executor] = e.held[executor][1:]
		if n := &h.r.nodes[h.i]; n.held {
			n.held = false
			e.handOut(h.r, h.i, e.executors[executor])
		}
	}
}

func (e *Engine) executorNames() []string {
	var names []string
	for n := range e.executors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *run) argValue(a ct.Arg) []byte {
	if a.Node != nil {
		return r.nodes[*a.Node].Output
	}
	if len(a.Encoded) == 0 {
		return encodedNull
	}
	return a.Encoded
}

// collect computes the output of a collection or selection node from its inputs.
func (r *run) collect(nd *ct.Node) ([]byte, error) {
	switch nd.Kind {
	case ct.KindList:
		return codec.List(r.nodeArgs(nd.ID)), nil
	case ct.KindDict:
		keys := make([]string, len(nd.Args))
		for i, a := range nd.Args {
			keys[i] = a.Name
		}
		return codec.Dict(keys, r.nodeArgs(nd.ID))
	default:
		out, err := selectFrom(nd, r.argValue(nd.Args[0]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nd.Kind, err)
		}
		return out, nil
	}
}

// retryDelay is the backoff before attempt n+1 (n >= 1).
func retryDelay(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(max(attempt-1, 0), 6)
	return min(d, 10*time.Second)
}

// settle handles an outcome of node i: a sublattice's graph becomes a child dispatch; a failure is retried if
// the electron allows it; anything else is stored, and acted on once it is durable.
func (e *Engine) settle(r *run, i int, oc executors.Outcome) {
	nd := &r.graph.Nodes[i]
	n := &r.nodes[i]
	n.Stdout, n.Stderr = oc.Stdout, oc.Stderr
	if oc.Error == "" && !oc.Cancelled && oc.Graph == nil {
		// Executors send outputs encoded; one that sends JSON (written before values were) is encoded here.
		var err error
		if oc.Output, err = encode(oc.Output); err != nil {
			oc.Output, oc.Error = nil, fmt.Sprintf("executor %s sent an output that is neither encoded nor JSON: %v", n.Executor, err)
		}
	}
	if !oc.Start.IsZero() && oc.Start.After(n.Started) {
		n.Started = oc.Start.UTC() // when it really started, not when it was queued
	}
	switch {
	case oc.Cancelled:
		n.Status = ct.StatusCancelled
	case oc.Error != "" && n.Attempts > 0 && n.Attempts <= nd.Retries && !r.cancelled:
		// attempts > 0: only tasks are retried; a collection or selection node fails the same way every time
		e.log.Info("retrying node", "dispatch", r.rec.ID, "node", i, "attempt", n.Attempts, "err", oc.Error)
		n.retryPending = true
		e.clock.AfterFunc(retryDelay(n.Attempts), func() {
			e.postFor(r, func() {
				if n.retryPending { // cancelNode clears it
					n.retryPending = false
					e.submitTask(r, i)
				}
			})
		})
		return
	case oc.Error != "":
		n.Status, n.Error, n.Stack = ct.StatusFailed, oc.Error, oc.Stack
	case oc.Graph != nil && r.cancelled:
		n.Status = ct.StatusCancelled // built after the dispatch was cancelled: never start the child
	case oc.Graph != nil:
		e.startChild(r, i, oc)
		return
	default:
		n.Status, n.Output = ct.StatusCompleted, oc.Output
	}
	if !oc.End.IsZero() {
		n.Ended = oc.End.UTC()
	} else {
		n.Ended = time.Now().UTC()
	}
	if nd.Kind != ct.KindElectron && nd.Kind != ct.KindSublattice && n.Status == ct.StatusCompleted {
		// Collections and selections are recomputed on resume, so they need not wait until they are stored.
		e.store.Save(results.Batch{Nodes: []results.NodeRecord{r.nodeRecord(i)}}, nil)
		e.complete(r, i)
		return
	}
	if n.Status == ct.StatusCompleted {
		// Its dependents start without waiting for the write (a large output's takes a while): the store writes
		// in order, so none of their outcomes is stored before this one, and a restart before it is written runs
		// them all again.
		e.release(r, i)
	}
	// The store holds the outcome and retries until it is written, however long the disk is full: a storage
	// error is never the node's. Until then the node stays busy, and RUNNING to the API, as in the database.
	e.store.Save(results.Batch{Nodes: []results.NodeRecord{r.nodeRecord(i)}}, func(err error) {
		if err == nil { // else the store closed first: the node runs again at the next start
			e.postFor(r, func() { e.complete(r, i) })
		}
	})
}

// complete runs once node i's final state is durable: it is shown, and its dependents are released if they were
// not yet.
func (e *Engine) complete(r *run, i int) {
	n := &r.nodes[i]
	n.busy = false
	r.active--
	name := r.graph.Nodes[i].Name
	e.hub.publish(Event{Type: "node", DispatchID: r.rec.ID, NodeID: &i, Status: n.Status, Name: name})
	if n.Status == ct.StatusCompleted {
		e.release(r, i)
	}
	e.maybeFinish(r)
}

// release schedules the dependents of completed node i that wait for nothing else, once.
func (e *Engine) release(r *run, i int) {
	if r.nodes[i].released {
		return
	}
	r.nodes[i].released = true
	for _, c := range r.dependents[i] {
		cn := &r.nodes[c]
		if cn.pending--; cn.pending == 0 && cn.Status == ct.StatusNew {
			e.schedule(r, c)
		}
	}
}

func (r *run) nodeRecord(i int) results.NodeRecord {
	return results.NodeRecord{DispatchID: r.rec.ID, NodeID: i, NodeState: r.nodes[i].NodeState}
}

// childRetryDelay is how long a built sublattice waits to become a child dispatch while the store cannot write.
const childRetryDelay = time.Second

// startChild turns a built sublattice graph into a child dispatch; node i completes when the child does. The
// child is stored (a commit, and uploads of its large values) off the scheduler goroutine; node i stays busy
// meanwhile.
func (e *Engine) startChild(r *run, i int, oc executors.Outcome) {
	req := &ct.DispatchRequest{Graph: *oc.Graph, Program: *oc.Program, EncodedInputs: codec.List(r.nodeArgs(i))}
	rootID, parentID := r.rec.RootID, r.rec.ID
	go func() {
		rec, graph, err := newDispatch(req)
		if err == nil {
			rec.RootID, rec.ParentID, rec.ParentNode = rootID, parentID, i
			err = e.create(e.ctx, &rec, graph, req.Program)
		}
		e.postFor(r, func() { e.childStored(r, i, oc, req, rec, err) })
	}()
}

// childStored goes on with sublattice node i once its child dispatch rec is stored, or could not be (err).
func (e *Engine) childStored(r *run, i int, oc executors.Outcome, req *ct.DispatchRequest, rec results.DispatchRecord, err error) {
	n := &r.nodes[i]
	switch {
	case err != nil && !n.busy: // its dispatch failed meanwhile
	case errors.Is(err, results.ErrUnavailable):
		// Not the sublattice's fault: the node keeps its built graph and tries again.
		e.clock.AfterFunc(childRetryDelay, func() {
			e.postFor(r, func() {
				if n.busy {
					e.settle(r, i, oc)
				}
			})
		})
	case err != nil:
		e.settle(r, i, executors.Outcome{Error: "starting the sublattice: " + err.Error(), Start: oc.Start, End: time.Now()})
	case r.cancelled:
		// Cancelled (or failed) while the child was being stored: it never starts, and ends CANCELLED.
		n.SubDispatchID = rec.ID
		rec.Status, rec.Error, rec.Ended = ct.StatusCancelled, "cancelled", time.Now().UTC()
		e.store.Save(results.Batch{Dispatches: []results.DispatchRecord{rec}}, nil)
		if n.busy {
			e.settle(r, i, executors.Outcome{Cancelled: true, Start: oc.Start, End: time.Now()})
		}
	default:
		n.SubDispatchID = rec.ID
		// record the child's id, so a restart reattaches instead of building it again
		e.store.Save(results.Batch{Nodes: []results.NodeRecord{r.nodeRecord(i)}}, nil)
		e.begin(newRun(rec, &req.Graph, req.Program), r, i)
	}
}

func (r *run) nodeArgs(i int) [][]byte {
	nd := &r.graph.Nodes[i]
	args := make([][]byte, len(nd.Args))
	for k, a := range nd.Args {
		args[k] = r.argValue(a)
	}
	return args
}

// childFinished settles the parent's sublattice node with the child's result.
func (e *Engine) childFinished(child *run) {
	p, i := child.parent, child.parentNode
	if p == nil {
		return
	}
	delete(p.children, i)
	if !p.nodes[i].busy {
		return
	}
	oc := executors.Outcome{Start: child.rec.Started, End: child.rec.Ended}
	switch child.rec.Status {
	case ct.StatusCompleted:
		oc.Output = child.rec.Result
		if len(oc.Output) == 0 {
			oc.Output = encodedNull
		}
	case ct.StatusCancelled:
		oc.Cancelled = true
	default:
		oc.Error = "sublattice failed: " + child.rec.Error
	}
	p.nodes[i].Attempts = p.graph.Nodes[i].Retries + 1 // a child dispatch is not retried as a whole
	e.settle(p, i, oc)
}

// resumeChild handles a sublattice node whose child dispatch exists but is not running: it finished while the
// dispatcher was down, or before its parent was resumed. The child's row is read off the scheduler goroutine.
func (e *Engine) resumeChild(r *run, i int) {
	id := r.nodes[i].SubDispatchID
	go func() {
		rec, err := e.store.Dispatch(e.ctx, id)
		e.postFor(r, func() {
			n := &r.nodes[i]
			switch {
			case !n.busy: // its dispatch failed meanwhile
			case r.cancelled:
				now := time.Now()
				e.settle(r, i, executors.Outcome{Cancelled: true, Start: now, End: now})
			case err != nil:
				n.SubDispatchID = ""
				e.submitTask(r, i)
			case rec.Status.Finished():
				e.childFinished(&run{rec: *rec, parent: r, parentNode: i})
			} // else it is being resumed too and will attach itself
		})
	}()
}

// maybeFinish ends a dispatch once nothing is running: FAILED if a node failed, CANCELLED if it was cancelled,
// else COMPLETED with the lattice's output.
func (e *Engine) maybeFinish(r *run) {
	if r.active > 0 || r.finishing || r.rec.Status.Finished() {
		return
	}
	var failed, cancelled []string
	unfinished := 0
	for i := range r.nodes {
		switch r.nodes[i].Status {
		case ct.StatusFailed:
			failed = append(failed, fmt.Sprintf("node %d (%s): %s", i, r.graph.Nodes[i].Name, firstLine(r.nodes[i].Error)))
		case ct.StatusCancelled:
			cancelled = append(cancelled, fmt.Sprint(i))
		case ct.StatusNew:
			unfinished++
		}
	}
	switch {
	case len(failed) > 0:
		r.rec.Status = ct.StatusFailed
		r.rec.Error = fmt.Sprintf("%d node(s) failed: %s", len(failed), strings.Join(failed, "; "))
	case r.cancelled || len(cancelled) > 0:
		r.rec.Status = ct.StatusCancelled
		r.rec.Error = "cancelled"
		if !r.cancelled {
			r.rec.Error = "cancelled nodes: " + strings.Join(cancelled, ", ")
		}
	case unfinished > 0:
		return // cannot happen with a valid graph; wait rather than finish early
	default:
		r.rec.Status = ct.StatusCompleted
		r.rec.Result = r.argValue(r.graph.Output)
	}
	r.rec.Ended = time.Now().UTC()
	e.finish(r, nil)
}

// finish stores r's final state, with the node rows given, and then lets go of it: waiters are woken, the
// event is sent, and a parent's sublattice node is settled.
func (e *Engine) finish(r *run, nodes []results.NodeRecord) {
	r.finishing = true
	e.store.Save(results.Batch{Dispatches: []results.DispatchRecord{r.rec}, Nodes: nodes}, func(err error) {
		if err != nil {
			return // the store closed first: the dispatch is resumed at the next start
		}
		e.postFor(r, func() {
			r.finishing = false
			delete(e.runs, r.rec.ID)
			e.recent.add(r)
			for _, w := range r.waiters {
				close(w)
			}
			r.waiters = nil
			e.hub.publish(Event{Type: "dispatch", DispatchID: r.rec.ID, Status: r.rec.Status})
			e.log.Info("dispatch finished", "dispatch", r.rec.ID, "name", r.rec.Name, "status", r.rec.Status, "nodes", len(r.nodes), "seconds", r.rec.Ended.Sub(r.rec.Started).Seconds())
			e.childFinished(r)
		})
	})
}

// failTree fails the whole dispatch tree that r belongs to, after an internal error: running tasks are
// cancelled, unfinished nodes are marked CANCELLED, and each dispatch ends FAILED with msg and the stack.
func (e *Engine) failTree(r *run, msg, stack string) {
	for r.parent != nil {
		r = r.parent
	}
	e.failRun(r, msg, stack)
}

func (e *Engine) failRun(r *run, msg, stack string) {
	for _, child := range r.children {
		e.failRun(child, "its parent dispatch failed: "+msg, stack)
	}
	if r.finishing || r.rec.Status.Finished() {
		return // its final state is already on its way to the store
	}
	r.cancelled = true
	now := time.Now().UTC()
	var nodes []results.NodeRecord
	for i := range r.nodes {
		n := &r.nodes[i]
		if n.Status.Finished() {
			continue
		}
		if ex := e.executors[n.Executor]; ex != nil && n.busy && n.taskID != "" {
			ex.Cancel(n.taskID)
		}
		n.Status, n.Ended, n.busy, n.held, n.retryPending = ct.StatusCancelled, now, false, false, false
		nodes = append(nodes, r.nodeRecord(i))
	}
	r.active = 0
	r.rec.Status, r.rec.Error, r.rec.Ended = ct.StatusFailed, msg+"\n"+stack, now
	e.finish(r, nodes)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// ErrNotFound is returned for unknown dispatch ids.
var ErrNotFound = results.ErrNotFound

// Cancel cancels a dispatch, or some of its nodes. Running tasks are stopped by their executors.
func (e *Engine) Cancel(ctx context.Context, id string, nodes []int) error {
	var err error
	running := false
	if derr := e.do(ctx, func() {
		r := e.runs[id]
		if r == nil {
			return
		}
		running = true
		for _, i := range nodes {
			if i < 0 || i >= len(r.nodes) {
				err = fmt.Errorf("%w: dispatch %s has no node %d", ErrBadRequest, id, i)
				return
			}
		}
		e.guard(r, func() {
			if len(nodes) == 0 {
				e.cancelRun(r)
				return
			}
			for _, i := range nodes {
				e.cancelNode(r, i)
			}
			e.maybeFinish(r)
		})
	}); derr != nil || running {
		return cmp.Or(derr, err)
	}
	// Not in progress: the store tells a finished dispatch from an unknown one.
	if _, err := e.store.Dispatch(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("%w: dispatch %s has already finished", ErrBadRequest, id)
}

func (e *Engine) cancelRun(r *run) {
	r.cancelled = true
	for i := range r.nodes {
		e.cancelNode(r, i)
	}
	e.maybeFinish(r)
}

func (e *Engine) cancelNode(r *run, i int) {
	n := &r.nodes[i]
	switch {
	case n.Status == ct.StatusNew:
		n.Status, n.Ended = ct.StatusCancelled, time.Now().UTC()
		e.store.Save(results.Batch{Nodes: []results.NodeRecord{r.nodeRecord(i)}}, nil)
		e.hub.publish(Event{Type: "node", DispatchID: r.rec.ID, NodeID: &i, Status: n.Status, Name: r.graph.Nodes[i].Name})
	case n.retryPending || n.held:
		n.retryPending, n.held = false, false
		now := time.Now()
		e.settle(r, i, executors.Outcome{Cancelled: true, Start: now, End: now})
	case n.busy && n.Status == ct.StatusRunning:
		if child := r.children[i]; child != nil {
			e.cancelRun(child)
			return
		}
		if ex := e.executors[n.Executor]; ex != nil && n.taskID != "" {
			ex.Cancel(n.taskID)
		}
	}
}

// load reads an unfinished dispatch back from the store.
func (e *Engine) load(ctx context.Context, id string) (*run, []results.NodeRecord, error) {
	rec, err := e.store.Dispatch(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	g, err := e.store.Graph(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	prog, err := e.store.Program(ctx, rec.ProgramHash)
	if err != nil {
		return nil, nil, err
	}
	nodes, err := e.store.Nodes(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	// A dispatch stored before values were encoded holds JSON: it goes on encoded.
	if err := encodeGraph(g); err != nil {
		return nil, nil, err
	}
	for i := range nodes {
		if nodes[i].Output, err = encode(nodes[i].Output); err != nil {
			return nil, nil, fmt.Errorf("node %d's output: %w", nodes[i].NodeID, err)
		}
	}
	return newRun(*rec, g, prog), nodes, nil
}

// Resume restarts every dispatch the store holds as unfinished: completed nodes keep their outputs and do not
// run again; nodes that were running when the dispatcher stopped run again.
func (e *Engine) Resume(ctx context.Context) (int, error) {
	ids, err := e.store.Unfinished(ctx)
	if err != nil {
		return 0, err
	}
	loaded := map[string]*run{}
	stored := map[string][]results.NodeRecord{}
	var resumable []string
	for _, id := range ids {
		r, nodes, err := e.load(ctx, id)
		if err != nil {
			e.log.Error("cannot resume dispatch; marking it FAILED", "dispatch", id, "err", err)
			e.store.SaveSync(ctx, results.Batch{Dispatches: []results.DispatchRecord{{ID: id, Status: ct.StatusFailed, Ended: time.Now().UTC(), Error: "could not be resumed after a restart: " + err.Error()}}})
			continue
		}
		loaded[id], stored[id] = r, nodes
		resumable = append(resumable, id)
	}
	ids = resumable
	e.do(context.Background(), func() { // not ctx: they start, however long the caller waits
		for id, r := range loaded {
			if p := loaded[r.rec.ParentID]; p != nil {
				r.parent, r.parentNode = p, r.rec.ParentNode
				p.children[r.rec.ParentNode] = r
			}
			e.runs[id] = r
		}
		for _, id := range ids { // parents before children: ids are oldest first
			e.log.Info("resuming dispatch", "dispatch", id)
			r := loaded[id]
			e.guard(r, func() { e.start(r, stored[id], true) })
		}
	})
	return len(ids), nil
}
