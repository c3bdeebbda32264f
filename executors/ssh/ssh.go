// Package ssh is the "ssh" executor: it runs electrons on a remote host over SSH. The host needs nothing but SSH
// access, a writable directory, a POSIX login shell and setsid (util-linux); no Go toolchain. Each task runs in
// a runner the executor uploads once, by content hash: a compiled electron in its program's native worker
// binary for the host's platform, alone; any other task (interpreted, a sublattice, or one with file
// transfers, which run on the host) in the govalent binary, `govalent worker --pipe` reading its request from
// a file. That binary is this executable when the host's platform is the dispatcher's, or govalent_binary;
// without it, such tasks fail with an error that says so.
//
// Each task runs in its own process group (setsid) in a directory of its node on the host, which holds its
// request, its pid and, once it has ended, its outcome, written atomically. A cancel or a time limit kills the
// group. The dispatcher's side waits on the session that started the task; when the connection fails it
// reconnects, with backoff, and attaches to the task again. Close leaves running tasks running: after a
// restart of the dispatcher, Adopt finds a node's task by its directory and reports its outcome, waiting for it
// if it still runs, instead of running the node again.
//
// Settings ([executors.NAME] in the config file; an electron's ct.With may not change them):
//
//	host                  the host (required)
//	port                  its SSH port (default 22)
//	user                  the user to log in as (default: the dispatcher's user)
//	key_file              a private key (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa); ssh-agent's keys are
//	                      offered too when SSH_AUTH_SOCK is set
//	known_hosts           the known_hosts file the host key is checked against (default ~/.ssh/known_hosts):
//	                      an unknown or changed host key is refused
//	accept_new_host_keys  add the key of a host known_hosts does not have yet (a changed key is still refused)
//	jump                  a jump host, [user@]host[:port] (as ssh -J), checked and logged into the same way
//	remote_dir            the directory on the host (default .govalent/ssh, in the user's home)
//	concurrency           tasks running at once (default 4); more wait in the executor's queue
//	max_sessions          sessions per SSH connection (default 10, OpenSSH's MaxSessions); more connections
//	                      are opened as needed
//	connect_attempts      tries to connect before a task fails (default 3, with backoff)
//	govalent_binary       the govalent binary to upload for interpreted electrons (default: this executable,
//	                      which only a host of the dispatcher's platform can run)
//	platform              the host's GOOS/GOARCH, if it is not to be detected before the first task; "none"
//	                      runs every electron interpreted
//	retention_days        task directories of dispatches untouched this long are removed (default 7; 0 keeps)
package ssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/govalent/govalent/ct/wire"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/process"
	"github.com/govalent/govalent/native"
)

// Settings are the ssh executor's settings.
type Settings struct {
	Login
	RemoteDir       string `json:"remote_dir"`
	Concurrency     int    `json:"concurrency"`
	MaxSessions     int    `json:"max_sessions"`
	ConnectAttempts int    `json:"connect_attempts"`
	GovalentBinary  string `json:"govalent_binary"`
	Platform        string `json:"platform"`
	RetentionDays   *int   `json:"retention_days"`
}

// maxReply bounds a task's reply, as the embedded pool's default does.
const maxReply = 1 << 30

var (
	errCancelled = errors.New("cancelled")
	errClosed    = errors.New("executor shut down")
	errTimeLimit = errors.New("time limit")
)

// Executor runs tasks on one host over SSH.
type Executor struct {
	name     string
	defaults executors.Settings
	s        Settings
	log      *slog.Logger
	pool     *pool
	setupErr error // a setting that makes every task fail (no host, an unreadable key)

	slots chan struct{} // one per task running

	mu      sync.Mutex
	tasks   map[string]*task
	closed  bool
	wg      sync.WaitGroup
	done    atomic.Int64
	uploads map[string]*upload // by hash

	detected   chan struct{} // closed once the first detection of the host's platform has ended
	platform   string        // the host's, detected
	detecting  bool
	lastDetect time.Time
}

type task struct {
	cancel  context.CancelCauseFunc
	running bool
}

// New makes the executor from its [executors.NAME] table. Without a host it is made, and each task fails
// saying what to set; a setting it cannot use is an error.
func New(name string, settings map[string]any, log *slog.Logger) (*Executor, error) {
	if log == nil {
		log = slog.Default()
	}
	defaults, err := executors.NewSettings(name, settings)
	if err != nil {
		return nil, err
	}
	e := &Executor{name: name, defaults: defaults, log: log, tasks: map[string]*task{}, uploads: map[string]*upload{}}
	if err := executors.DecodeSettings(name, defaults.Merge(nil), &e.s); err != nil {
		return nil, err
	}
	if err := e.fill(&e.s); err != nil {
		return nil, err
	}
	e.slots = make(chan struct{}, e.s.Concurrency)
	if e.s.Host == "" {
		e.setupErr = fmt.Errorf("executor %s needs the %q setting (in [executors.%s] of the config file)", name, "host", name)
		return e, nil
	}
	if e.pool, err = newPool(&e.s); err != nil {
		return nil, fmt.Errorf("executor %s: %w", name, err)
	}
	e.detected = make(chan struct{})
	if e.s.Platform == "" {
		go func() { e.detect(); close(e.detected) }() // now, so that the first dispatch does not wait for it
	} else {
		close(e.detected)
	}
	return e, nil
}

// fill checks settings and fills in the defaults.
func (e *Executor) fill(s *Settings) error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("executor %s setting %s: %s", e.name, key, fmt.Sprintf(format, args...))
	}
	// As people write a host for ssh: user@host, host:port.
	if u, h, ok := strings.Cut(s.Host, "@"); ok {
		if s.User != "" && s.User != u {
			return bad("host", "%q names user %s, and the user setting is %s", s.Host, u, s.User)
		}
		s.User, s.Host = u, h
	}
	if h, p, err := net.SplitHostPort(s.Host); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil || s.Port != 0 && s.Port != port {
			return bad("host", "%q: its port does not agree with the port setting (%d)", s.Host, s.Port)
		}
		s.Host, s.Port = h, port
	}
	if s.Port == 0 {
		s.Port = 22
	}
	if s.Port < 1 || s.Port > 65535 {
		return bad("port", "%d is not a port", s.Port)
	}
	if s.User == "" {
		u, err := user.Current()
		if err != nil {
			return bad("user", "not set, and the current user is unknown: %v", err)
		}
		s.User = u.Username
	}
	home, _ := os.UserHomeDir()
	if s.KnownHosts == "" {
		s.KnownHosts = "~/.ssh/known_hosts"
	}
	for _, p := range []*string{&s.KeyFile, &s.KnownHosts, &s.GovalentBinary} {
		if rest, ok := strings.CutPrefix(*p, "~/"); ok {
			*p = filepath.Join(home, rest)
		}
	}
	// Sessions start in the user's home: ~/dir is dir there (sh does not expand a quoted ~).
	if rest, ok := strings.CutPrefix(s.RemoteDir, "~/"); ok {
		s.RemoteDir = rest
	}
	switch s.RemoteDir {
	case "":
		s.RemoteDir = ".govalent/ssh"
	case "~":
		s.RemoteDir = "."
	}
	if s.Concurrency == 0 {
		s.Concurrency = 4
	}
	if s.MaxSessions == 0 {
		s.MaxSessions = 10
	}
	if s.ConnectAttempts == 0 {
		s.ConnectAttempts = 3
	}
	if s.Concurrency < 0 || s.MaxSessions < 0 || s.ConnectAttempts < 0 {
		return bad("concurrency, max_sessions, connect_attempts", "must be positive")
	}
	if s.RetentionDays == nil {
		week := 7
		s.RetentionDays = &week
	}
	if s.Platform != "" && s.Platform != "none" && strings.Count(s.Platform, "/") != 1 {
		return bad("platform", "%q: want GOOS/GOARCH (linux/amd64) or none", s.Platform)
	}
	if s.GovalentBinary != "" && !fileExists(s.GovalentBinary) {
		return bad("govalent_binary", "%s does not exist", s.GovalentBinary)
	}
	return nil
}

// NativePlatforms implements executors.NativeRunner: the platform setting, or the host's, detected when the
// executor is made (waited for briefly, once) and by every connection since. While it is unknown (the host
// could not be reached), electrons run interpreted, and it is detected again in the background.
func (e *Executor) NativePlatforms() []string {
	switch {
	case e.pool == nil || e.s.Platform == "none":
		return nil
	case e.s.Platform != "":
		return []string{e.s.Platform}
	}
	select {
	case <-e.detected:
	case <-time.After(detectWait):
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.platform == "" {
		if isClosed(e.detected) && !e.detecting && time.Since(e.lastDetect) > redetectEvery {
			e.detecting = true
			go e.detect()
		}
		return nil
	}
	return []string{e.platform}
}

// detectWait bounds how long a dispatch waits for the first detection of the host's platform (NativePlatforms
// is asked on the dispatcher's scheduling path); redetectEvery spaces the attempts while the host is unreachable.
const (
	detectWait    = 5 * time.Second
	redetectEvery = 30 * time.Second
)

// detect connects to learn the host's platform (remote records it).
func (e *Executor) detect() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*dialTimeout)
	defer cancel()
	if _, err := e.remote(ctx); err != nil {
		e.log.Warn("ssh executor: the host's platform is unknown, electrons run interpreted", "executor", e.name, "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detecting, e.lastDetect = false, time.Now()
}

// Submit implements executors.Executor.
func (e *Executor) Submit(t *executors.Task, done func(executors.Outcome)) { e.start(t, done, false) }

// Adopt implements executors.Adopter: the node's task on the host, if it ran or runs, is t's; otherwise t runs.
func (e *Executor) Adopt(t *executors.Task, done func(executors.Outcome)) { e.start(t, done, true) }

func (e *Executor) start(t *executors.Task, done func(executors.Outcome), adopt bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		now := time.Now()
		go done(executors.Outcome{Error: "executor " + e.name + " is shut down", Start: now, End: now})
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	rt := &task{cancel: cancel}
	e.tasks[t.ID] = rt
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		oc, report := e.run(ctx, t, rt, adopt)
		e.mu.Lock()
		delete(e.tasks, t.ID)
		e.mu.Unlock()
		cancel(nil)
		if report {
			e.done.Add(1)
			done(oc)
		}
	}()
}

// Cancel implements executors.Executor: a running task's process group is killed.
func (e *Executor) Cancel(taskID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rt := e.tasks[taskID]; rt != nil {
		rt.cancel(errCancelled)
	}
}

// Stats implements executors.Executor.
func (e *Executor) Stats() executors.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := executors.Stats{Name: e.name, Workers: e.s.Concurrency, Done: e.done.Load()}
	for _, rt := range e.tasks {
		if rt.running {
			st.Busy++
		} else {
			st.Queued++
		}
	}
	return st
}

// Close implements executors.Executor. Tasks running on the host go on running, to be adopted after a
// restart; their outcomes are not reported.
func (e *Executor) Close() error {
	e.mu.Lock()
	e.closed = true
	for _, rt := range e.tasks {
		rt.cancel(errClosed)
	}
	e.mu.Unlock()
	e.wg.Wait()
	if e.pool != nil {
		e.pool.close()
	}
	return nil
}

// run takes a task from the queue to its outcome; report is false when the executor is shutting down.
func (e *Executor) run(ctx context.Context, t *executors.Task, rt *task, adopt bool) (oc executors.Outcome, report bool) {
	start := time.Now()
	fail := func(kind executors.ErrorKind, err error) (executors.Outcome, bool) {
		if context.Cause(ctx) != nil {
			return e.interrupted(ctx, start)
		}
		return executors.Outcome{Error: err.Error(), ErrorKind: kind, Start: start, End: time.Now()}, true
	}
	if e.setupErr != nil {
		return fail(executors.ErrorSettings, e.setupErr)
	}
	if err := e.checkTaskSettings(t); err != nil {
		return fail(executors.ErrorSettings, err)
	}
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		return e.interrupted(ctx, start)
	}
	e.mu.Lock()
	rt.running = true
	e.mu.Unlock()
	r, err := e.remote(ctx)
	if err != nil {
		return e.ended(ctx, t, r, start, ended{}, err)
	}
	// The task is waited for apart: a session's output may not end when it is closed (sshd keeps it open while
	// the command runs), so a cancel or a time limit must not wait for it.
	type result struct {
		end ended
		err error
	}
	results := make(chan result, 1)
	launching, started := make(chan struct{}), make(chan struct{})
	var startOnce sync.Once
	markStarted := func() { startOnce.Do(func() { close(started) }) }
	go func() {
		if adopt {
			// An adopted task's time limit counts from its adoption: when it started is not known here.
			attached, end, err := e.watch(ctx, t, r, "", markStarted)
			if err != nil || attached {
				if attached {
					e.log.Info("adopted a task that ran on through a restart", "executor", e.name, "task", t.ID, "dir", nodeDir(r.root, t))
				}
				results <- result{end, err}
				return
			}
		}
		end, err := e.launch(ctx, t, launching, markStarted)
		results <- result{end, err}
	}()
	var deadline <-chan time.Time
	notStarted := (<-chan struct{})(started) // nil once it has
	for {
		select {
		case <-notStarted:
			notStarted = nil
			if t.TimeLimit > 0 {
				deadline = time.After(t.TimeLimit)
			}
		case <-deadline:
			rt.cancel(errTimeLimit)
		case res := <-results:
			return e.ended(ctx, t, r, start, res.end, res.err)
		case <-ctx.Done():
			if !errors.Is(context.Cause(ctx), errClosed) && notStarted != nil && isClosed(launching) {
				// A task being started is let start, so that its process group can be killed.
				select {
				case <-notStarted:
				case res := <-results:
					return e.ended(ctx, t, r, start, res.end, res.err)
				case <-time.After(2 * dialTimeout):
				}
			}
			return e.ended(ctx, t, r, start, ended{}, nil)
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// checkTaskSettings refuses an electron's settings that would change the executor's.
func (e *Executor) checkTaskSettings(t *executors.Task) error {
	var s Settings
	if err := executors.DecodeSettings(e.name, e.defaults.Merge(t.Settings), &s); err != nil {
		return err
	}
	if err := e.fill(&s); err != nil {
		return err
	}
	if s.Host != e.s.Host || s.Port != e.s.Port || s.User != e.s.User || s.KeyFile != e.s.KeyFile || s.KnownHosts != e.s.KnownHosts ||
		s.AcceptNewHostKeys != e.s.AcceptNewHostKeys || s.Jump != e.s.Jump || s.RemoteDir != e.s.RemoteDir || s.Concurrency != e.s.Concurrency ||
		s.ConnectAttempts != e.s.ConnectAttempts || s.GovalentBinary != e.s.GovalentBinary || s.Platform != e.s.Platform {
		return fmt.Errorf("executor %s: an electron cannot change the executor's settings (ct.With); set them in [executors.%s], or configure another executor for another host", e.name, e.name)
	}
	return nil
}

// remote connects and returns what the probe found.
func (e *Executor) remote(ctx context.Context) (remote, error) {
	c, err := e.pool.conn(ctx)
	if err != nil {
		return remote{}, e.connectError(err)
	}
	e.pool.release(c)
	e.mu.Lock()
	e.platform = c.remote.platform
	e.mu.Unlock()
	return c.remote, nil
}

func (e *Executor) connectError(err error) error {
	return fmt.Errorf("executor %s: %s@%s:%d: %w", e.name, e.s.User, e.s.Host, e.s.Port, err)
}

// launch uploads what the task needs, closes launching, starts the task, calls started, then waits for it; if
// the connection fails meanwhile, it attaches to the task again.
func (e *Executor) launch(ctx context.Context, t *executors.Task, launching chan<- struct{}, started func()) (ended, error) {
	sess, c, release, err := e.pool.session(ctx)
	if err != nil {
		return ended{}, e.connectError(err)
	}
	defer release()
	r := c.remote
	runner, mode, req, err := e.prepare(ctx, c, *t)
	if err != nil {
		return ended{}, err
	}
	if err := context.Cause(ctx); err != nil {
		return ended{}, err // cancelled while uploading: nothing runs
	}
	close(launching)
	out, err := e.session(sess, startScript(nodeDir(r.root, t), t.ID, runner, mode), req)
	if err != nil {
		return ended{}, fmt.Errorf("starting the task on %s: %w", e.s.Host, err)
	}
	line, err := out.ReadString('\n')
	if err != nil || line != "started\n" {
		return ended{}, fmt.Errorf("starting the task on %s: %s%v", e.s.Host, line, sessionError(out, err))
	}
	started()
	end, err := readTail(out.Reader)
	if err == nil || context.Cause(ctx) != nil {
		return end, err
	}
	// The connection failed while the task ran: it runs on, so attach to it again.
	e.pool.drop(c)
	e.log.Warn("lost the connection to a running task; attaching again", "executor", e.name, "task", t.ID, "err", err)
	attached, end, err := e.watch(ctx, t, r, t.ID, func() {})
	if err == nil && !attached {
		err = fmt.Errorf("the task's process on %s ended without an outcome", e.s.Host)
	}
	return end, err
}

// watch attaches to the node's task on the host and waits for it to end; attached is false when there is no
// such task (or it ended without an outcome). want, if set, is the task id it must have. A failed connection
// is tried again, with backoff, until connecting fails.
func (e *Executor) watch(ctx context.Context, t *executors.Task, r remote, want string, onAttach func()) (attached bool, end ended, err error) {
	for {
		sess, c, release, err := e.pool.session(ctx)
		if err != nil {
			return false, ended{}, e.connectError(err)
		}
		out, err := e.session(sess, watchScript(nodeDir(r.root, t)), nil)
		if err != nil {
			release()
			return false, ended{}, err
		}
		line, err := out.ReadString('\n')
		f := strings.Fields(line)
		switch {
		case err == nil && len(f) == 1 && f[0] == "none":
			release()
			return false, ended{}, nil
		case err == nil && len(f) == 2 && f[0] == "attached":
			if want != "" && f[1] != want {
				release()
				return false, ended{}, fmt.Errorf("the node's directory on %s holds task %s, not this one", e.s.Host, f[1])
			}
			onAttach()
			end, err = readTail(out.Reader)
			release()
			if err == nil {
				return !end.lost, end, nil
			}
		default:
			release()
		}
		if context.Cause(ctx) != nil {
			return false, ended{}, context.Cause(ctx)
		}
		e.pool.drop(c)
		e.log.Warn("watching a task failed; trying again", "executor", e.name, "task", t.ID, "err", sessionError(out, err))
	}
}

// session runs cmd in sess with stdin, and returns its stdout as it comes. It is not closed when the task is
// cancelled: the task is killed instead, which ends it.
func (e *Executor) session(sess *ssh.Session, cmd string, stdin []byte) (*sessionOutput, error) {
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return nil, err
	}
	so := &sessionOutput{Reader: bufio.NewReaderSize(stdout, 64<<10)}
	sess.Stderr = &so.stderr
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	if err := sess.Start(cmd); err != nil {
		return nil, err
	}
	return so, nil
}

// sessionOutput is a session's stdout, and its stderr for errors.
type sessionOutput struct {
	*bufio.Reader
	stderr lockedBuffer
}

func sessionError(out *sessionOutput, err error) error {
	if out == nil {
		return err
	}
	if s := strings.TrimSpace(out.stderr.String()); s != "" {
		return fmt.Errorf("%v: %s", err, s)
	}
	return err
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() < 64<<10 {
		b.b.Write(p)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ended turns how a task ended into its outcome, killing its process group when it was cancelled or ran out of
// time; report is false when the executor is shutting down (the task runs on, for Adopt after a restart).
func (e *Executor) ended(ctx context.Context, t *executors.Task, r remote, start time.Time, end ended, err error) (executors.Outcome, bool) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errClosed):
		return executors.Outcome{}, false
	case cause != nil:
		if r.root != "" {
			e.kill(t, r)
		}
		if errors.Is(cause, errTimeLimit) {
			return executors.Outcome{Error: fmt.Sprintf("time limit of %s exceeded", t.TimeLimit), ErrorKind: executors.ErrorTimeLimit, Start: start, End: time.Now()}, true
		}
		return executors.Outcome{Cancelled: true, Start: start, End: time.Now()}, true
	case err != nil:
		// A connection that cannot be made (a host key, a refused key, an unusable directory) is the settings'.
		kind := executors.ErrorCrash
		var perm permanentError
		if errors.As(err, &perm) {
			kind = executors.ErrorSettings
		}
		return executors.Outcome{Error: err.Error(), ErrorKind: kind, Retryable: kind == executors.ErrorCrash, Start: start, End: time.Now()}, true
	case end.lost:
		return executors.Outcome{Error: fmt.Sprintf("the task's process on %s was killed before it wrote an outcome", e.s.Host), ErrorKind: executors.ErrorCrash, Retryable: true, Start: start, End: time.Now()}, true
	}
	oc := end.outcome(e.s.Host)
	if oc.Start.IsZero() {
		oc.Start, oc.End = start, time.Now()
	}
	return oc, true
}

// kill kills the task's process group on the host.
func (e *Executor) kill(t *executors.Task, r remote) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*dialTimeout)
	defer cancel()
	if _, err := e.pool.exec(ctx, killScript(nodeDir(r.root, t)), nil); err != nil {
		e.log.Warn("killing a task on the host failed", "executor", e.name, "task", t.ID, "err", err)
	}
}

func (e *Executor) interrupted(ctx context.Context, start time.Time) (executors.Outcome, bool) {
	if errors.Is(context.Cause(ctx), errClosed) {
		return executors.Outcome{}, false
	}
	if errors.Is(context.Cause(ctx), errTimeLimit) {
		return executors.Outcome{Error: "time limit exceeded", ErrorKind: executors.ErrorTimeLimit, Start: start, End: time.Now()}, true
	}
	return executors.Outcome{Cancelled: true, Start: start, End: time.Now()}, true
}

// prepare uploads what the task runs in, if it is not there yet, and returns that runner's path, its mode and
// the task's request. A compiled electron (a native binary for the host's platform, and no file transfers, which
// the govalent worker makes) runs in its native worker alone; any other task in the govalent binary's pipe worker.
func (e *Executor) prepare(ctx context.Context, c *conn, t executors.Task) (runner, mode string, req []byte, err error) {
	r := c.remote
	bin, native := t.Binaries[r.platform]
	native = native && t.Kind == executors.KindElectron && e.s.Platform != "none"
	if native {
		if runner, err = e.upload(ctx, c, bin.Hash, bin.Path); err != nil {
			return "", "", nil, fmt.Errorf("uploading the program's native worker to %s: %w", e.s.Host, err)
		}
		if _, files := t.Settings[wire.FilesSetting]; !files {
			return runner, modeNative, encodeNativeCall(&t), nil
		}
	}
	t.Binaries = nil
	if native { // the pipe worker runs it in its native worker, at its path on the host
		t.Binaries = map[string]executors.Binary{r.platform: {Hash: bin.Hash, Path: runner}}
	}
	local := e.s.GovalentBinary
	if local == "" {
		if r.platform != executors.Platform {
			goos, goarch, _ := strings.Cut(r.platform, "/")
			return "", "", nil, permanentError{fmt.Errorf("%s is %s and this dispatcher runs on %s, so its own binary cannot run there, and this task has no native worker for %s (it is interpreted, a sublattice, or moves files): set govalent_binary in [executors.%s] to a govalent binary built for %s (GOOS=%s GOARCH=%s go build ./cmd/govalent)",
				e.s.Host, r.platform, executors.Platform, r.platform, e.name, r.platform, goos, goarch)}
		}
		if local, err = os.Executable(); err != nil {
			return "", "", nil, err
		}
	}
	hash, err := fileHash(local)
	if err != nil {
		return "", "", nil, fmt.Errorf("govalent_binary: %w", err)
	}
	if runner, err = e.upload(ctx, c, hash, local); err != nil {
		return "", "", nil, fmt.Errorf("uploading the govalent binary to %s: %w", e.s.Host, err)
	}
	req, err = process.EncodeRequest(t, maxReply)
	return runner, modePipe, req, err
}

// upload is one binary's upload to the host: the first task that needs it uploads it, the others wait.
type upload struct {
	mu   sync.Mutex
	done bool
}

// upload puts the file at local on the host as ROOT/bin/HASH, unless it is there, and returns that path.
func (e *Executor) upload(ctx context.Context, c *conn, hash, local string) (string, error) {
	remotePath := c.remote.root + "/bin/" + hash
	e.mu.Lock()
	up := e.uploads[hash]
	if up == nil {
		up = &upload{}
		e.uploads[hash] = up
	}
	e.mu.Unlock()
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.done {
		return remotePath, nil
	}
	out, err := e.pool.exec(ctx, "test -x "+quote(remotePath)+" && echo there || echo missing", nil)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(string(out)) != "there" {
		f, err := os.Open(local)
		if err != nil {
			return "", err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return "", err
		}
		tmp := quote(remotePath + ".tmp." + fmt.Sprint(time.Now().UnixNano()))
		script := fmt.Sprintf(`cat > %[1]s && [ "$(wc -c < %[1]s)" -eq %[2]d ] && chmod 700 %[1]s && mv %[1]s %[3]s || { rm -f %[1]s; exit 1; }`, tmp, st.Size(), quote(remotePath))
		if _, err := e.pool.exec(ctx, script, f); err != nil {
			return "", err
		}
		e.log.Info("uploaded a binary", "executor", e.name, "host", e.s.Host, "path", remotePath, "bytes", st.Size())
	}
	up.done = true
	return remotePath, nil
}

// hashes caches the sha256 of local files by path, size and modification time.
var hashes sync.Map

func fileHash(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, st.Size(), st.ModTime().UnixNano())
	if h, ok := hashes.Load(key); ok {
		return h.(string), nil
	}
	h, err := native.FileHash(path)
	if err != nil {
		return "", err
	}
	hashes.Store(key, h)
	return h, nil
}
