package kernel

// Bounds on what a peer, before any signature is checked, can make the kernel hold.
//
// zmq4 has no maximum message size: on reading a frame header it allocates the announced size, up to 2^63
// bytes, and reads the body into it, so an 8-byte header makes the kernel allocate 400 MB, or panic. zmq4 lets
// a program register a transport, and hands it the socket's context on Listen: the kernel listens on
// boundedScheme, whose connections follow the ZMTP framing of the bytes they pass to zmq4 and, before zmq4 sees a
// frame header, refuse (closing the connection) a frame or multipart message over the socket's limit. Larger
// frames must reserve their size from a budget shared by the kernel's sockets, so that many connections each
// announcing a big frame and sending nothing more cannot add up. A connection that stalls while it holds a
// reservation, or before finishing the ZMTP handshake (zmq4 accepts connections one at a time), is closed.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
	"golang.org/x/sync/semaphore"
)

// MaxMessageSize bounds one message on shell, control and stdin: the sum of its frames. Cells and comm
// messages with their buffers fit; a frontend sending more has its connection closed.
const MaxMessageSize = 64 << 20

// maxSmallMessage bounds what the heartbeat echoes and what a subscriber sends to IOPub (only subscriptions).
const maxSmallMessage = 64 << 10

// wireLimits are the bounds of a kernel's connections; tests shrink the timeouts.
type wireLimits struct {
	// budget is what the frames bigger than maxSmallMessage being read at once may announce in all.
	budget int64
	// handshake is how long a new connection has to finish the ZMTP handshake.
	handshake time.Duration
	// stall is how long a connection holding a reservation may go without sending.
	stall time.Duration
}

var defaultLimits = wireLimits{budget: 2 * MaxMessageSize, handshake: 10 * time.Second, stall: 30 * time.Second}

// connLimits are the bounds of one socket's connections.
type connLimits struct {
	channel    string
	maxMessage int64
	// subscriptionsOnly refuses anything but ZMTP 3.0 (un)subscriptions, which is all a subscriber sends to
	// IOPub after the handshake (zmq4 speaks ZMTP 3.0, so libzmq peers send no SUBSCRIBE commands): zmq4's PUB
	// socket queues any other message, commands too, for a Recv nobody calls, holding it for good.
	subscriptionsOnly bool
	budget            *semaphore.Weighted
	wire              wireLimits
	log               *slog.Logger
}

// boundedScheme is the zmq4 transport the kernel listens on, for connection files' "tcp" and "ipc".
const boundedScheme = "govalent-bounded"

type limitsKey struct{}

// withLimits makes a context for a zmq4 socket whose listeners bound their connections.
func withLimits(ctx context.Context, l *connLimits) context.Context {
	return context.WithValue(ctx, limitsKey{}, l)
}

// boundedEndpoint is the endpoint a kernel socket listens on for a connection file's transport and address.
func boundedEndpoint(network, addr string) string {
	return fmt.Sprintf("%s://%s|%s", boundedScheme, network, addr)
}

func init() {
	if err := zmq4.RegisterTransport(boundedScheme, boundedTransport{}); err != nil {
		panic(err)
	}
}

// boundedTransport wraps zmq4's net transports; its endpoints are "govalent-bounded://tcp|host:port".
type boundedTransport struct{}

var netTransports = map[string]transport.Transport{"tcp": transport.New("tcp"), "ipc": transport.New("unix")}

func (boundedTransport) split(ep string) (string, transport.Transport, string, error) {
	network, addr, ok := strings.Cut(ep, "|")
	t, known := netTransports[network]
	if !ok || !known {
		return "", nil, "", fmt.Errorf("kernel: unsupported endpoint %q (tcp or ipc)", ep)
	}
	return network, t, addr, nil
}

func (b boundedTransport) Addr(ep string) (string, error) {
	network, t, addr, err := b.split(ep)
	if err != nil {
		return "", err
	}
	addr, err = t.Addr(addr)
	return network + "|" + addr, err
}

func (boundedTransport) Dial(context.Context, transport.Dialer, string) (net.Conn, error) {
	return nil, errors.New("kernel: the bounded transport only listens")
}

func (b boundedTransport) Listen(ctx context.Context, ep string) (net.Listener, error) {
	l, ok := ctx.Value(limitsKey{}).(*connLimits)
	if !ok {
		return nil, errors.New("kernel: listening on the bounded transport needs the socket's limits")
	}
	_, t, addr, err := b.split(ep)
	if err != nil {
		return nil, err
	}
	ln, err := t.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	return &boundedListener{Listener: ln, lim: l}, nil
}

type boundedListener struct {
	net.Listener
	lim *connLimits
}

func (l *boundedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	bc := &boundedConn{Conn: c, lim: l.lim, greeting: zmtpGreetingLen, handshakeBy: time.Now().Add(l.lim.wire.handshake)}
	bc.ctx, bc.cancel = context.WithCancel(context.Background())
	return bc, nil
}

const zmtpGreetingLen = 64

// ZMTP frame flags.
const (
	flagMore    = 0x1
	flagLong    = 0x2
	flagCommand = 0x4
)

// errRefused is returned to zmq4 for a connection that broke a limit; zmq4 then closes it.
var errRefused = errors.New("kernel: connection refused")

// boundedConn follows the ZMTP stream it passes to zmq4: the greeting, then frames (a flags byte, a 1- or
// 8-byte size, the body). Each chunk read is checked before zmq4 sees it.
type boundedConn struct {
	net.Conn
	lim         *connLimits
	ctx         context.Context // cancelled by Close, to stop waiting for the budget
	cancel      context.CancelFunc
	handshakeBy time.Time // zero once the handshake's command came through

	mu       sync.Mutex // Read and Close come from different goroutines
	greeting int        // greeting bytes still to come
	hdr      [9]byte    // the frame header being read
	hdrN     int
	flags    byte
	body     uint64 // body bytes of the current frame still to come
	first    bool   // the next body byte is the current frame's first
	msg      uint64 // bytes of the current multipart message so far
	reserved int64  // the budget the current message (or command) holds until its last frame is read
	// busyBy is when the message (or command) being read must be complete: zmq4 holds every frame of a
	// message until its last, so a peer that stops half-way must not keep what it sent. Zero between messages.
	busyBy time.Time
	err    error
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.setDeadline()
	n, err := c.Conn.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// zmq4 does not close a connection whose handshake failed
		c.lim.log.Warn("closed a stalled connection", "channel", c.lim.channel, "peer", c.RemoteAddr())
		c.Close()
	}
	if cerr := c.check(p[:n]); cerr != nil {
		c.err = cerr
		c.Close()
		return 0, cerr
	}
	return n, err
}

func (c *boundedConn) Close() error {
	c.cancel()
	c.mu.Lock()
	c.release()
	c.mu.Unlock()
	return c.Conn.Close()
}

// setDeadline bounds the wait for bytes during the handshake and within a message; between messages a
// connection may be idle as long as it likes, as a frontend's is between requests.
func (c *boundedConn) setDeadline() {
	by := c.busyBy
	if !c.handshakeBy.IsZero() {
		by = c.handshakeBy
	}
	c.Conn.SetReadDeadline(by)
}

// check advances the frame parser over b, refusing the connection if b breaks a limit.
func (c *boundedConn) check(b []byte) error {
	for len(b) > 0 {
		switch {
		case c.greeting > 0:
			k := min(c.greeting, len(b))
			c.greeting -= k
			b = b[k:]
		case c.body > 0:
			if c.first {
				c.first = false
				if c.lim.subscriptionsOnly && c.flags&flagCommand == 0 && b[0] > 1 {
					return c.refuse("a message that is not a subscription")
				}
			}
			k := min(c.body, uint64(len(b)))
			c.body -= k
			b = b[k:]
			if c.body == 0 {
				c.frameDone()
			}
		default:
			c.hdr[c.hdrN] = b[0]
			c.hdrN++
			b = b[1:]
			need := 2
			if c.hdr[0]&flagLong != 0 {
				need = 9
			}
			if c.hdrN < need {
				continue
			}
			c.hdrN = 0
			c.flags = c.hdr[0]
			size := uint64(c.hdr[1])
			if need == 9 {
				size = binary.BigEndian.Uint64(c.hdr[1:9])
			}
			if err := c.startFrame(size); err != nil {
				return err
			}
		}
	}
	return nil
}

// startFrame checks a frame's header before zmq4 sees it (and allocates its body).
func (c *boundedConn) startFrame(size uint64) error {
	held := size // what zmq4 holds once this frame is read: the command, or the message so far
	if c.flags&flagCommand != 0 {
		if c.lim.subscriptionsOnly && c.handshakeBy.IsZero() {
			return c.refuse("a command after the handshake")
		}
		if size > uint64(c.lim.maxMessage) {
			return c.refuse(fmt.Sprintf("a %d-byte command", size))
		}
	} else {
		if size > uint64(c.lim.maxMessage) || c.msg+size > uint64(c.lim.maxMessage) {
			return c.refuse(fmt.Sprintf("a message of more than %d bytes", c.lim.maxMessage))
		}
		c.msg += size
		held = c.msg
		if c.lim.subscriptionsOnly && (c.flags&flagMore != 0 || size == 0) {
			return c.refuse("a message that is not a subscription")
		}
	}
	if c.busyBy.IsZero() {
		c.busyBy = time.Now().Add(c.lim.wire.stall)
	}
	// Small messages cost nothing; a larger one holds budget for all it has sent so far until its last frame.
	if held > maxSmallMessage && int64(held) > c.reserved {
		first := c.reserved == 0
		wait, cancel := context.WithTimeout(c.ctx, c.lim.wire.stall)
		err := c.lim.budget.Acquire(wait, int64(held)-c.reserved)
		cancel()
		if err != nil {
			return c.refuse("a message while the budget stayed full") // or closed while waiting
		}
		c.mu.Lock()
		c.reserved = int64(held)
		closed := c.ctx.Err() != nil
		if closed {
			c.release() // Close came between Acquire and here
		}
		c.mu.Unlock()
		if closed {
			return errRefused
		}
		if first { // its time runs from when it may be read, not from when it began to wait
			c.busyBy = time.Now().Add(c.lim.wire.stall)
		}
	}
	c.body, c.first = size, true
	if size == 0 {
		c.frameDone()
	}
	return nil
}

// frameDone ends a frame; at the end of a command or of a message's last frame, zmq4 hands it on and its
// reservation goes back.
func (c *boundedConn) frameDone() {
	if c.flags&flagCommand == 0 && c.flags&flagMore != 0 {
		return
	}
	c.mu.Lock()
	c.release()
	c.mu.Unlock()
	c.msg, c.busyBy = 0, time.Time{}
	if c.flags&flagCommand != 0 {
		// the first command after the greeting is the NULL mechanism's READY: the handshake is done
		c.handshakeBy = time.Time{}
	}
}

// release gives the reservation back; c.mu is held.
func (c *boundedConn) release() {
	if c.reserved > 0 {
		c.lim.budget.Release(c.reserved)
		c.reserved = 0
	}
}

func (c *boundedConn) refuse(what string) error {
	c.lim.log.Warn("refused a connection", "channel", c.lim.channel, "peer", c.RemoteAddr(), "sent", what)
	return errRefused
}
