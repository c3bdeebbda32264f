package plugin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/rpc"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	json "github.com/goccy/go-json"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/govalent/govalent/executors"
)

// Executor is the dispatcher's side of an executor plugin: an executors.Executor that runs the plugin's
// program, hands it tasks and reports the outcomes it sends back. When the plugin stops (a crash, a kill), the
// tasks it held fail with an error that says so, and a new plugin process is started for the next tasks, after a
// backoff that grows while restarts fail or crash before any outcome comes back.
type Executor struct {
	name     string
	path     string
	settings []byte // the plugin's [executors.NAME] table as JSON
	log      *slog.Logger
	caps     startReply // what the first plugin process could do
	closing  chan struct{}

	mu       sync.Mutex
	conn     *conn               // the running plugin process; nil while there is none
	starting bool                // a restart is under way
	queue    []*pending          // submitted, not yet sent
	tasks    map[string]*pending // submitted and not yet reported, by task id
	failures int                 // restarts since the last outcome
	retryAt  time.Time           // no restart before this
	closed   bool
	reported atomic.Int64
	wg       sync.WaitGroup
}

// pending is a task the executor has not reported yet.
type pending struct {
	task      *executors.Task
	done      func(executors.Outcome)
	adopt     bool
	conn      *conn // the plugin process it was handed to; nil while queued
	acked     bool  // that process has taken it (a cancel sent before could overtake it)
	cancelled bool
	sent      time.Time
}

// conn is one plugin process.
type conn struct {
	client *goplugin.Client
	rpc    *rpc.Client
	cmd    *exec.Cmd
	stderr *tail
	wake   chan struct{} // tasks are queued for it
	gone   chan struct{} // closed when its connection has ended
	killed sync.Once
}

// kill ends the process (asking first), once; every caller returns once it is gone, so its exit status is known.
func (c *conn) kill() { c.killed.Do(c.client.Kill) }

// Restart backoff: the first restart waits minBackoff, each further one without an outcome in between twice as
// long, up to maxBackoff.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Limits: a batch of tasks sent to a plugin carries about maxBatch bytes of arguments and programs at most (a
// single larger task goes alone); the plugin's executor has startTimeout to start, and a Stats or Close call
// waits for the plugin that long at most.
const (
	maxBatch     = 8 << 20
	startTimeout = time.Minute
	statsTimeout = 2 * time.Second
	closeTimeout = 10 * time.Second
)

// New starts the plugin program at path as the executor called name, with settings (its [executors.NAME]
// table without "plugin"). An error says why the program could not serve: it is missing, it is not an executor
// plugin, it speaks another protocol version, or its executor refused the settings. The executor returned
// implements executors.NativeRunner and executors.Adopter when the plugin's executor does.
func New(name, path string, settings map[string]any, log *slog.Logger) (executors.Executor, error) {
	if log == nil {
		log = slog.Default()
	}
	if settings == nil {
		settings = map[string]any{}
	}
	table, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("executor %s: its settings: %w", name, err)
	}
	if _, err := exec.LookPath(path); err != nil {
		return nil, fmt.Errorf("executor %s: plugin %s: %w", name, path, err)
	}
	e := &Executor{name: name, path: path, settings: table, log: log.With("executor", name), closing: make(chan struct{}),
		tasks: map[string]*pending{}}
	c, caps, err := e.launch()
	if err != nil {
		return nil, err
	}
	e.caps, e.conn = caps, c
	e.serve(c)
	switch {
	case caps.Native && caps.Adopter:
		return &nativeAdopter{e}, nil
	case caps.Native:
		return &nativeRunner{e}, nil
	case caps.Adopter:
		return &adopter{e}, nil
	}
	return e, nil
}

// The executor with the optional interfaces its plugin's executor has: the dispatcher tells what an executor
// can do by its type.
type (
	nativeRunner  struct{ *Executor }
	adopter       struct{ *Executor }
	nativeAdopter struct{ *Executor }
)

func (e *nativeRunner) NativePlatforms() []string  { return slices.Clone(e.caps.Platforms) }
func (e *nativeAdopter) NativePlatforms() []string { return slices.Clone(e.caps.Platforms) }
func (e *adopter) Adopt(t *executors.Task, done func(executors.Outcome)) {
	e.submit(t, done, true)
}
func (e *nativeAdopter) Adopt(t *executors.Task, done func(executors.Outcome)) {
	e.submit(t, done, true)
}

// launch starts a plugin process and configures its executor.
func (e *Executor) launch() (*conn, startReply, error) {
	c := &conn{cmd: exec.Command(e.path), stderr: &tail{max: 4 << 10}, wake: make(chan struct{}, 1), gone: make(chan struct{})}
	// The kernel kills the plugin if the dispatcher dies without closing it (its workers die with it).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          pluginSet(nil),
		Cmd:              c.cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolNetRPC},
		Logger:           newHCLogger(e.log),
		Stderr:           c.stderr,
		SyncStdout:       &lineLogger{log: e.log, stream: "stdout"},
		SyncStderr:       &lineLogger{log: e.log, stream: "stderr"},
	})
	fail := func(err error) (*conn, startReply, error) {
		c.kill()
		return nil, startReply{}, e.startError(err, c)
	}
	proto, err := c.client.Client()
	if err != nil {
		return fail(err)
	}
	raw, err := proto.Dispense(pluginName)
	if err != nil {
		return fail(err)
	}
	c.rpc = raw.(*rpc.Client)
	caps := new(startReply) // written by the call even after a timeout: not read then
	call := c.rpc.Go("Plugin.Start", startArgs{Name: e.name, Settings: e.settings}, caps, nil)
	select {
	case <-call.Done:
		err = call.Error
	case <-time.After(startTimeout):
		c.kill()
		return nil, startReply{}, fmt.Errorf("executor %s: plugin %s: its executor did not start within %s", e.name, e.path, startTimeout)
	}
	var refused rpc.ServerError
	switch {
	case errors.As(err, &refused): // the plugin's newExecutor said why
		c.kill()
		return nil, startReply{}, fmt.Errorf("executor %s: plugin %s: %s", e.name, e.path, refused)
	case err != nil:
		c.kill()
		return nil, startReply{}, fmt.Errorf("executor %s: plugin %s failed while starting its executor: %s", e.name, e.path, exitReason(c, err))
	}
	return c, *caps, nil
}

// startError explains why a plugin process did not start serving.
func (e *Executor) startError(err error, c *conn) error {
	msg := strings.TrimSpace(err.Error())
	first, _, _ := strings.Cut(msg, "\n")
	stderr := ""
	if out := c.stderr.String(); out != "" {
		stderr = "; its stderr: " + out
	}
	notPlugin := func(why string) error {
		return fmt.Errorf("executor %s: %s is not an executor plugin (a program whose main calls plugin.Serve): %s%s", e.name, e.path, why, stderr)
	}
	if printed, ok := strings.CutPrefix(first, "Unrecognized remote plugin message:"); ok {
		if printed = strings.TrimSpace(printed); printed != "" {
			return notPlugin(fmt.Sprintf("it printed %q instead of go-plugin's handshake", printed))
		}
		return notPlugin("it exited without printing go-plugin's handshake")
	}
	switch {
	case strings.Contains(first, "exited before we could connect"):
		return notPlugin("it exited without printing go-plugin's handshake")
	case strings.Contains(first, "incompatible API version"):
		return fmt.Errorf("executor %s: plugin %s: %s; this dispatcher speaks executor plugin protocol %d: rebuild the plugin against this version of govalent%s",
			e.name, e.path, first, ProtocolVersion, stderr)
	}
	return fmt.Errorf("executor %s: starting plugin %s: %s%s", e.name, e.path, msg, stderr)
}

// serve runs the sender and the reader of c, which is e.conn.
func (e *Executor) serve(c *conn) {
	e.wg.Add(2)
	go func() { defer e.wg.Done(); e.send(c) }()
	go func() { defer e.wg.Done(); e.read(c) }()
	c.wake <- struct{}{} // tasks may have queued while it started
}

func (e *Executor) Submit(t *executors.Task, done func(executors.Outcome)) { e.submit(t, done, false) }

func (e *Executor) submit(t *executors.Task, done func(executors.Outcome), adopt bool) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		done(executors.Outcome{Error: fmt.Sprintf("executor %s is closed", e.name), Start: time.Now(), End: time.Now()})
		return
	}
	p := &pending{task: t, done: done, adopt: adopt}
	e.tasks[t.ID] = p
	e.queue = append(e.queue, p)
	e.kick()
	e.mu.Unlock()
}

// kick gets the queue moving: it wakes the running plugin's sender, or has a plugin started. Called with mu held.
func (e *Executor) kick() {
	switch {
	case e.conn != nil:
		select {
		case e.conn.wake <- struct{}{}:
		default:
		}
	case !e.starting:
		e.starting = true
		e.wg.Add(1)
		go func() { defer e.wg.Done(); e.restart() }()
	}
}

// send hands queued tasks to c, in order, a batch at a time, until c stops.
func (e *Executor) send(c *conn) {
	for {
		select {
		case <-c.wake:
		case <-c.gone:
			return
		case <-e.closing:
			return
		}
		for {
			args, batch := e.takeBatch(c)
			if len(batch) == 0 {
				break
			}
			err := c.rpc.Call("Plugin.Submit", args, &struct{}{})
			e.mu.Lock()
			var cancel []string
			for _, p := range batch {
				p.acked = true
				if p.cancelled && e.tasks[p.task.ID] == p {
					cancel = append(cancel, p.task.ID)
				}
			}
			e.mu.Unlock()
			var refused rpc.ServerError
			if errors.As(err, &refused) { // the plugin is up and said no: the batch fails, and the next may go
				e.fail(c, batch, fmt.Sprintf("executor %s: its plugin refused the task: %s", e.name, refused))
				continue
			}
			if err != nil {
				return // the reader finds c stopped and fails its tasks, these among them
			}
			for _, id := range cancel {
				c.rpc.Go("Plugin.Cancel", id, &struct{}{}, nil)
			}
		}
	}
}

// takeBatch moves tasks from the queue to c.
func (e *Executor) takeBatch(c *conn) (submitArgs, []*pending) {
	e.mu.Lock()
	defer e.mu.Unlock()
	args := submitArgs{Programs: map[string]string{}}
	var batch []*pending
	size := 0
	n := 0
	for ; n < len(e.queue) && e.conn == c; n++ {
		p := e.queue[n]
		t := *p.task
		t.Program = ""
		raw, err := json.Marshal(&t)
		if err != nil { // settings that are not JSON: the task fails, the batch goes on
			delete(e.tasks, t.ID)
			e.reportLater(p, executors.Outcome{Error: fmt.Sprintf("executor %s: encoding the task: %v", e.name, err)})
			continue
		}
		if _, ok := args.Programs[t.ProgramHash]; !ok && p.task.Program != "" {
			args.Programs[t.ProgramHash] = p.task.Program
			size += len(p.task.Program)
		}
		size += len(raw)
		p.conn, p.sent = c, time.Now()
		args.Tasks = append(args.Tasks, sentTask{Task: raw, Adopt: p.adopt})
		batch = append(batch, p)
		if size >= maxBatch {
			n++
			break
		}
	}
	e.queue = e.queue[n:]
	return args, batch
}

// fail reports the tasks of batch that c still holds as failed with msg.
func (e *Executor) fail(c *conn, batch []*pending, msg string) {
	e.mu.Lock()
	var failed []*pending
	for _, p := range batch {
		if e.tasks[p.task.ID] == p && p.conn == c {
			delete(e.tasks, p.task.ID)
			failed = append(failed, p)
		}
	}
	e.mu.Unlock()
	for _, p := range failed {
		e.reported.Add(1)
		p.done(executors.Outcome{Error: msg, ErrorKind: executors.ErrorCrash, Start: p.sent, End: time.Now()})
	}
}

// reportLater reports p's outcome from another goroutine (the caller holds mu).
func (e *Executor) reportLater(p *pending, oc executors.Outcome) {
	e.reported.Add(1)
	go p.done(oc)
}

// read reports the outcomes c sends back until it stops.
func (e *Executor) read(c *conn) {
	for {
		var batch []finished
		err := c.rpc.Call("Plugin.Outcomes", struct{}{}, &batch)
		if err != nil {
			e.stopped(c, err)
			return
		}
		for _, f := range batch {
			var oc executors.Outcome
			if err := json.Unmarshal(f.Outcome, &oc); err != nil {
				oc = executors.Outcome{Error: fmt.Sprintf("executor %s: the plugin's outcome does not decode: %v", e.name, err), ErrorKind: executors.ErrorCrash,
					Start: time.Now(), End: time.Now()}
			}
			e.mu.Lock()
			p := e.tasks[f.TaskID]
			ours := p != nil && p.conn == c && !e.closed
			if ours {
				delete(e.tasks, f.TaskID)
				e.failures = 0
			}
			e.mu.Unlock()
			if ours {
				e.reported.Add(1)
				p.done(oc)
			}
		}
	}
}

// stopped handles the end of c's connection: unless the executor is closing, the plugin died (or hung up), so
// the tasks it held fail and a new process is started for the queued ones.
func (e *Executor) stopped(c *conn, cause error) {
	close(c.gone)
	c.kill()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	if e.conn == c {
		e.conn = nil
	}
	var lost []*pending
	for id, p := range e.tasks {
		if p.conn == c {
			lost = append(lost, p)
			delete(e.tasks, id)
		}
	}
	e.failures++
	e.retryAt = time.Now().Add(backoff(e.failures))
	if len(e.queue) > 0 {
		e.kick()
	}
	e.mu.Unlock()
	why := exitReason(c, cause)
	e.log.Error("executor plugin stopped; it is restarted for the next tasks", "plugin", e.path, "reason", why, "tasks_failed", len(lost))
	msg := fmt.Sprintf("executor %s: its plugin process (%s) stopped while it held the task: %s", e.name, e.path, why)
	for _, p := range lost {
		oc := executors.Outcome{Error: msg, ErrorKind: executors.ErrorCrash, Retryable: true, Start: p.sent, End: time.Now()}
		if p.cancelled {
			oc = executors.Outcome{Cancelled: true, Start: p.sent, End: time.Now()}
		}
		e.reported.Add(1)
		p.done(oc)
	}
}

// exitReason is how c's process ended, with the end of what it wrote to stderr.
func exitReason(c *conn, cause error) string {
	why := "the connection failed: " + cause.Error()
	if st := c.cmd.ProcessState; st != nil {
		why = st.String()
	}
	if out := c.stderr.String(); out != "" {
		why += "; its stderr ends: " + out
	}
	return why
}

func backoff(failures int) time.Duration {
	d := minBackoff
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// restart starts a new plugin process once the backoff has passed. When it cannot, the tasks waiting for it
// fail with the reason; the next task submitted tries again.
func (e *Executor) restart() {
	e.mu.Lock()
	wait := time.Until(e.retryAt)
	e.mu.Unlock()
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-e.closing:
			return
		}
	}
	c, caps, err := e.launch()
	e.mu.Lock()
	e.starting = false
	if e.closed {
		e.mu.Unlock()
		if c != nil {
			c.kill()
		}
		return
	}
	if err != nil {
		e.failures++
		e.retryAt = time.Now().Add(backoff(e.failures))
		waiting := e.queue
		e.queue = nil
		for _, p := range waiting {
			delete(e.tasks, p.task.ID)
		}
		e.mu.Unlock()
		e.log.Error("executor plugin did not restart", "plugin", e.path, "error", err)
		for _, p := range waiting {
			e.reported.Add(1)
			p.done(executors.Outcome{Error: err.Error(), ErrorKind: executors.ErrorCrash, Retryable: true, Start: time.Now(), End: time.Now()})
		}
		return
	}
	e.conn = c // in the same critical section as starting: a Submit now wakes c rather than starting another
	e.mu.Unlock()
	if caps.Native != e.caps.Native || caps.Adopter != e.caps.Adopter || !slices.Equal(caps.Platforms, e.caps.Platforms) {
		e.log.Warn("the restarted plugin can do other things than when the dispatcher started; restart the dispatcher to use them",
			"plugin", e.path)
	}
	e.log.Info("executor plugin restarted", "plugin", e.path)
	e.serve(c)
}

// Cancel stops a task: one still queued here is reported cancelled at once; one the plugin holds is cancelled
// by the plugin's executor, which reports it.
func (e *Executor) Cancel(taskID string) {
	e.mu.Lock()
	p := e.tasks[taskID]
	if p == nil || p.cancelled {
		e.mu.Unlock()
		return
	}
	p.cancelled = true
	if p.conn == nil {
		delete(e.tasks, taskID)
		e.queue = slices.DeleteFunc(e.queue, func(q *pending) bool { return q == p })
		e.mu.Unlock()
		e.reported.Add(1)
		now := time.Now()
		p.done(executors.Outcome{Cancelled: true, Start: now, End: now})
		return
	}
	c, acked := p.conn, p.acked
	e.mu.Unlock()
	if acked { // otherwise send cancels it once the plugin has it
		c.rpc.Go("Plugin.Cancel", taskID, &struct{}{}, nil)
	}
}

// Stats are the plugin executor's, with this executor's name, its own queue and the count of outcomes reported
// across plugin restarts.
func (e *Executor) Stats() executors.Stats {
	e.mu.Lock()
	c, queued := e.conn, len(e.queue)
	e.mu.Unlock()
	var st executors.Stats
	if c != nil {
		reply := new(executors.Stats) // written by the call even after a timeout: not read then
		call := c.rpc.Go("Plugin.Stats", struct{}{}, reply, nil)
		select {
		case <-call.Done:
			if call.Error == nil {
				st = *reply
			}
		case <-time.After(statsTimeout):
		}
	}
	return executors.Stats{Name: e.name, Workers: st.Workers, Busy: st.Busy, Queued: st.Queued + queued, Done: e.reported.Load(),
		Recovered: st.Recovered}
}

// Close closes the plugin's executor and ends its process; outcomes not yet reported are dropped.
func (e *Executor) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.closing)
	c := e.conn
	e.conn, e.queue, e.tasks = nil, nil, map[string]*pending{}
	e.mu.Unlock()
	var err error
	if c != nil {
		call := c.rpc.Go("Plugin.Close", struct{}{}, &struct{}{}, nil)
		select {
		case <-call.Done:
			if call.Error != nil {
				err = fmt.Errorf("executor %s: closing its plugin: %w", e.name, call.Error)
			}
		case <-time.After(closeTimeout):
			err = fmt.Errorf("executor %s: its plugin did not close within %s; it was killed", e.name, closeTimeout)
		}
		c.kill()
	}
	e.wg.Wait()
	return err
}
