// Package kernel is a Jupyter kernel for Go: the messaging protocol over pure-Go ZeroMQ (go-zeromq/zmq4),
// with cells evaluated by package interp in an evaluator process the kernel starts (see evaluator.go), so
// notebooks dispatch govalent workflows and a cell that crashes does not take the kernel down.
package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/google/uuid"
	"github.com/govalent/govalent/interp"
	"golang.org/x/sync/semaphore"
)

// Version is reported in kernel_info.
const Version = "0.1.0"

// Kernel is one running kernel.
type Kernel struct {
	ci      *ConnectionInfo
	sig     signer
	session string
	log     *slog.Logger

	shell, control, stdin, iopub, hb zmq4.Socket
	iopubMu, stdinMu                 sync.Mutex // zmq4 sockets are not safe for concurrent sends

	evalCmd          EvaluatorCommand // guarded by evMu
	plainEvaluator   EvaluatorCommand // the one without module packages
	evHold           func()           // lets go of evalCmd's evaluator in the cache; guarded by evMu
	memory           int64            // the evaluator's memory limit in bytes; none if not positive
	evMu             sync.Mutex
	ev               *evalProc          // the evaluator; guarded by evMu, as are the two below
	snap             *interp.Snapshot   // the evaluator's session, to restore into a new one
	carried          map[string]carried // the values of its variables
	evalDir          string             // its working directory after the last cell (os.Chdir in Go code)
	stdoutW, stderrW *streamWriter
	exec             *execution // the cell running now, or nil; guarded by mu
	stopRestore      func()     // ends the restoring of the session into a new evaluator, if one runs; guarded by mu
	mu               sync.Mutex

	// the session's Go modules (see modules.go); the fields below modDir are the shell goroutine's
	modDir string
	// releaseModDir is called when the kernel stops, restart telling whether a restart was asked for
	releaseModDir func(restart bool)
	restarting    bool            // a shutdown_request asked for a restart; guarded by mu
	modPkgs       []string        // the module packages the evaluator links in
	modState      string          // the go.mod, go.sum and packages the evaluator was built for
	raisedNoted   string          // the modules cells run at govalent's versions, as last said
	notNamed      map[string]bool // modules (path@version) whose root package no cell can use by name

	execCount    int
	history      []historyEntry
	stdinReplies chan *Message
	done         chan struct{}
	stopOnce     sync.Once
}

// Options configure a kernel.
type Options struct {
	Logger *slog.Logger
	// RedirectProcessOutput points the process's fds 1 and 2 at the running cell's streams; the kernel
	// process does so, tests that run a kernel in-process do not. Log to a copy of the original stderr then.
	RedirectProcessOutput bool

	// Evaluator is the process cells run in; DefaultEvaluator() if zero.
	Evaluator EvaluatorCommand
	// EvaluatorMemory limits the evaluator's memory, in bytes; if zero, GOVALENT_KERNEL_MEMORY says, or half the
	// RAM; negative: no limit.
	EvaluatorMemory int64

	// ModuleDir is the session's Go module (go.mod, go.sum), if set; the kernel leaves it as it is.
	ModuleDir string
	// ConnectionFile names the session's module directory, which a kernel that Jupyter restarts in this one's
	// place (with the same connection file) takes over; without it or ModuleDir, a temporary one.
	ConnectionFile string

	limits wireLimits // defaultLimits if zero; tests shrink them
}

// SavedStderr returns a copy of fd 2 to log to, made before the kernel redirects it.
func SavedStderr() *os.File {
	fd, err := syscall.Dup(2)
	if err != nil {
		return os.Stderr
	}
	// not inherited: a dispatcher the kernel starts must not hold the frontend's stderr open
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "stderr")
}

// Run starts a kernel for the connection file and serves until a shutdown request.
func Run(connectionFile string, opts Options) error {
	ci, err := ReadConnectionFile(connectionFile)
	if err != nil {
		return err
	}
	opts.RedirectProcessOutput, opts.ConnectionFile = true, connectionFile
	k, err := Start(ci, opts)
	if err != nil {
		return err
	}
	go k.stopWithParent(os.Getppid(), time.Second)
	go k.stopOnSIGTERM()
	k.Wait()
	return nil
}

// stopWithParent stops the kernel once the process that started it (the frontend, or its kernel manager) has
// died, as ipykernel does: the kernel then has another parent (init, or a subreaper), and nobody to serve.
func (k *Kernel) stopWithParent(parent int, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.done:
			return
		case <-t.C:
			if os.Getppid() != parent {
				k.log.Warn("the process that started the kernel has exited; stopping", "parent", parent)
				k.stop()
				return
			}
		}
	}
}

// Start binds the five sockets and starts serving.
func Start(ci *ConnectionInfo, opts Options) (*Kernel, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.limits == (wireLimits{}) {
		opts.limits = defaultLimits
	}
	if opts.Evaluator.Path == "" {
		var err error
		if opts.Evaluator, err = DefaultEvaluator(); err != nil {
			return nil, err
		}
	}
	if opts.EvaluatorMemory == 0 {
		var err error
		if opts.EvaluatorMemory, err = evaluatorMemory(); err != nil {
			return nil, fmt.Errorf("kernel: %w", err)
		}
	}
	modDir, err := openModuleDir(opts, opts.Logger)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			modDir.release(true) // kept: Jupyter may start the kernel again
		}
	}()
	if modDir.kept {
		opts.Logger.Info("took over the session's modules from the kernel this one replaces", "dir", modDir.path)
	}
	budget := semaphore.NewWeighted(opts.limits.budget)
	// bounded gives a socket's listener the limits of what its peers may send (see limit.go).
	bounded := func(channel string, maxMessage int64) context.Context {
		return withLimits(context.Background(), &connLimits{channel: channel, maxMessage: maxMessage,
			subscriptionsOnly: channel == "iopub", budget: budget, wire: opts.limits, log: opts.Logger})
	}
	// zmq4 logs refused handshakes to os.Stderr, which is the running cell's stderr in a kernel process
	zlog := zmq4.WithLogger(slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn))
	k := &Kernel{
		ci: ci, sig: signer{key: []byte(ci.Key), seen: newDigestHistory(digestHistorySize)}, session: uuid.NewString(), log: opts.Logger,
		shell: zmq4.NewRouter(bounded("shell", MaxMessageSize), zlog), control: zmq4.NewRouter(bounded("control", MaxMessageSize), zlog),
		stdin: zmq4.NewRouter(bounded("stdin", MaxMessageSize), zlog), iopub: zmq4.NewPub(bounded("iopub", maxSmallMessage), zlog),
		hb:           zmq4.NewRep(bounded("hb", maxSmallMessage), zlog),
		stdinReplies: make(chan *Message, 1), done: make(chan struct{}),
		evalCmd: opts.Evaluator, plainEvaluator: opts.Evaluator, notNamed: map[string]bool{}, evHold: func() {}, memory: opts.EvaluatorMemory, carried: map[string]carried{},
		modDir: modDir.path, releaseModDir: modDir.release,
	}
	for _, b := range []struct {
		s    zmq4.Socket
		port int
	}{{k.shell, ci.ShellPort}, {k.control, ci.ControlPort}, {k.stdin, ci.StdinPort}, {k.iopub, ci.IOPubPort}, {k.hb, ci.HBPort}} {
		if err := b.s.Listen(boundedEndpoint(ci.Transport, fmt.Sprintf("%s:%d", ci.IP, b.port))); err != nil {
			k.closeSockets()
			return nil, fmt.Errorf("kernel: listening on %s: %w", ci.endpoint(b.port), err)
		}
	}
	// The evaluator's fds 1 and 2 are these pipes, so that whatever a cell writes, and the last words of an
	// evaluator that crashes, reach the cell's streams.
	outW, err := k.pipeStream("stdout")
	if err != nil {
		return nil, err
	}
	errW, err := k.pipeStream("stderr")
	if err != nil {
		return nil, err
	}
	if opts.RedirectProcessOutput {
		// Output of compiled code (the SDK, a crashing goroutine) reaches the cell too.
		syscall.Dup3(int(outW.Fd()), 1, 0)
		syscall.Dup3(int(errW.Fd()), 2, 0)
	}
	ev, err := k.startEvaluator()
	if err != nil {
		k.closeSockets()
		return nil, err
	}
	k.ev = ev
	k.installHooks()
	go k.heartbeat()
	go k.serve(k.shell, "shell")
	go k.serve(k.control, "control")
	go k.serveStdin()
	go k.interruptOnSIGINT()
	k.publish(nil, "status", kernelStatus{ExecutionState: "starting"})
	started = true
	return k, nil
}

// Wait blocks until the kernel has shut down.
func (k *Kernel) Wait() { <-k.done }

func (k *Kernel) stop() {
	k.stopOnce.Do(func() {
		k.stopEvaluator()
		k.evMu.Lock()
		k.evHold()
		k.evHold = func() {}
		k.evMu.Unlock()
		k.closeSockets()
		k.mu.Lock()
		restart := k.restarting
		k.mu.Unlock()
		k.releaseModDir(restart)
		close(k.done)
	})
}

func (k *Kernel) closeSockets() {
	for _, s := range []zmq4.Socket{k.shell, k.control, k.stdin, k.iopub, k.hb} {
		if s != nil {
			s.Close()
		}
	}
}

// heartbeat echoes pings. A message that is no REQ request (zmq4's Recv fails on it) or a peer gone before the
// echo does not stop it: only the kernel's stop does.
func (k *Kernel) heartbeat() {
	for {
		msg, err := k.hb.Recv()
		if err == nil {
			err = k.hb.Send(msg)
		}
		if err != nil {
			select {
			case <-k.done:
				return
			default:
			}
			if errors.Is(err, context.Canceled) {
				return // the socket is closed: stop is under way
			}
			k.log.Debug("heartbeat", "err", err)
		}
	}
}

// stopOnSIGTERM stops the kernel as a shutdown_request would, the restart it asked for kept: Jupyter sends
// SIGTERM to a kernel that has not exited soon after one.
func (k *Kernel) stopOnSIGTERM() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	defer signal.Stop(ch)
	select {
	case <-ch:
		k.log.Warn("SIGTERM: stopping")
		k.stop()
	case <-k.done:
	}
}

// interruptOnSIGINT supports interrupt_mode "signal" as well as the interrupt_request message.
func (k *Kernel) interruptOnSIGINT() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT)
	for {
		select {
		case <-ch:
			k.interrupt()
		case <-k.done:
			signal.Stop(ch)
			return
		}
	}
}

// serve reads requests from a shell or control socket. Shell requests run one at a time, as Jupyter expects;
// control requests are served beside them, so an interrupt reaches a running cell. Requests are read and
// authenticated apart from running them, so that what an unauthenticated peer sends while a cell runs is
// dropped at once rather than held in zmq4's queues.
func (k *Kernel) serve(sock zmq4.Socket, channel string) {
	reqs := make(chan *Message, 64)
	go func() {
		defer close(reqs)
		for {
			msg, ok := k.receive(sock, channel)
			if !ok {
				return
			}
			select {
			case reqs <- msg:
			case <-k.done:
				return
			}
		}
	}()
	for msg := range reqs {
		select {
		case <-k.done:
			return // shut down: what was queued behind the shutdown_request is not run
		default:
		}
		k.handle(sock, msg)
	}
}

// receive returns the next authentic message on a socket, logging and dropping the others; false once the
// socket is closed.
func (k *Kernel) receive(sock zmq4.Socket, channel string) (*Message, bool) {
	for {
		zm, err := sock.Recv()
		if err != nil {
			return nil, false
		}
		msg, err := k.sig.decode(zm.Frames)
		if err != nil {
			k.log.Warn("dropped a message", "channel", channel, "err", err)
			continue
		}
		return msg, true
	}
}

func (k *Kernel) serveStdin() {
	for {
		msg, ok := k.receive(k.stdin, "stdin")
		if !ok {
			return
		}
		if msg.Header.MsgType == "input_reply" {
			select {
			case k.stdinReplies <- msg:
			default: // the buffer holds an unread reply already; the reader matches replies to its request
			}
		}
	}
}

// send writes a message on a socket and returns its msg_id.
func (k *Kernel) send(sock zmq4.Socket, mu *sync.Mutex, identities [][]byte, msgType string, parent *Message, content any) string {
	var parentHeader json.RawMessage
	if parent != nil {
		parentHeader, _ = json.Marshal(parent.Header)
	}
	h := newHeader(msgType, k.session)
	frames, err := k.sig.encode(identities, h, parentHeader, content)
	if err != nil {
		k.log.Error("encoding a message", "type", msgType, "err", err)
		return h.MsgID
	}
	if mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	if err := sock.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		k.log.Warn("sending a message", "type", msgType, "err", err)
	}
	return h.MsgID
}

// publish sends a message on IOPub, topic-prefixed by its type.
func (k *Kernel) publish(parent *Message, msgType string, content any) {
	k.send(k.iopub, &k.iopubMu, [][]byte{[]byte("kernel." + k.session + "." + msgType)}, msgType, parent, content)
}

// reply answers a request on the socket it came from; shell replies come from one goroutine, control ones too.
func (k *Kernel) reply(sock zmq4.Socket, req *Message, msgType string, content any) {
	k.send(sock, nil, req.Identities, msgType, req, content)
}

func (k *Kernel) status(parent *Message, state string) {
	k.publish(parent, "status", kernelStatus{ExecutionState: state})
}

// handle runs one request between busy and idle on IOPub.
func (k *Kernel) handle(sock zmq4.Socket, msg *Message) {
	k.status(msg, "busy")
	defer k.status(msg, "idle")
	switch msg.Header.MsgType {
	case "kernel_info_request":
		k.reply(sock, msg, "kernel_info_reply", kernelInfo())
	case "execute_request":
		k.execute(sock, msg)
	case "is_complete_request":
		k.isComplete(sock, msg)
	case "complete_request":
		k.complete(sock, msg)
	case "inspect_request":
		k.inspect(sock, msg)
	case "history_request":
		k.historyReply(sock, msg)
	case "comm_info_request":
		k.reply(sock, msg, "comm_info_reply", commInfoReply{Status: "ok"})
	case "comm_open":
		// no comm targets: tell the frontend the comm is closed
		var open commOpen
		json.Unmarshal(msg.Content, &open)
		k.publish(msg, "comm_close", commClose{CommID: open.CommID})
	case "comm_msg", "comm_close":
	case "interrupt_request":
		k.interrupt()
		k.reply(sock, msg, "interrupt_reply", statusReply{Status: "ok"})
	case "shutdown_request":
		var req shutdownRequest
		json.Unmarshal(msg.Content, &req)
		k.mu.Lock()
		k.restarting = req.Restart
		k.mu.Unlock()
		k.interrupt()
		k.reply(sock, msg, "shutdown_reply", shutdownReply{Status: "ok", Restart: req.Restart})
		k.status(msg, "idle")
		k.stop()
	default:
		k.log.Info("unhandled message", "type", msg.Header.MsgType)
	}
}

func kernelInfo() kernelInfoReply {
	return kernelInfoReply{
		Status:                "ok",
		ProtocolVersion:       ProtocolVersion,
		Implementation:        "govalent",
		ImplementationVersion: Version,
		LanguageInfo: languageInfo{
			Name: "go", Version: runtime.Version(), MIMEType: "text/x-go", FileExtension: ".go",
			PygmentsLexer: "go", CodeMirrorMode: "go",
		},
		Banner: "Go (govalent " + Version + ", yaegi): electrons, lattices and ct.Dispatch; `ct` is pre-imported.",
		HelpLinks: []helpLink{
			{Text: "govalent", URL: "https://github.com/govalent/govalent"},
			{Text: "Go", URL: "https://go.dev/doc/"},
		},
	}
}

// errStdinNotAllowed is what reading stdin gives in a cell whose frontend does not take input.
var errStdinNotAllowed = errors.New("this frontend does not accept input (allow_stdin is false)")
