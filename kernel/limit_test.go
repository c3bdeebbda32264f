package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// zmtpPeer connects to a kernel port and does the ZMTP 3.0 NULL handshake by hand as a socket of the given
// type, so that a test can then send frames no zmq4 client would.
func zmtpPeer(t *testing.T, port int, socketType string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	greeting := make([]byte, zmtpGreetingLen)
	greeting[0], greeting[9], greeting[10] = 0xFF, 0x7F, 3
	copy(greeting[12:], "NULL")
	ready := append([]byte{5}, "READY"...)
	ready = append(ready, byte(len("Socket-Type")))
	ready = append(ready, "Socket-Type"...)
	ready = binary.BigEndian.AppendUint32(ready, uint32(len(socketType)))
	ready = append(ready, socketType...)
	if _, err := conn.Write(append(append(greeting, frameHeader(flagCommand, len(ready))...), ready...)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func frameHeader(flags byte, size int) []byte {
	if size < 256 {
		return []byte{flags, byte(size)}
	}
	return binary.BigEndian.AppendUint64([]byte{flags | flagLong}, uint64(size))
}

// dealerFrames is the start of a message a DEALER sends, badly signed: delimiter, signature, header, parent and
// metadata, each followed by more.
func dealerFrames() []byte {
	var b []byte
	for _, f := range []string{string(delimiter), strings.Repeat("0", 64), `{"msg_type":"execute_request"}`, "{}", "{}"} {
		b = append(append(b, frameHeader(flagMore, len(f))...), f...)
	}
	return b
}

// sendBody writes up to n zero bytes and returns how many went out before the write failed.
func sendBody(conn net.Conn, n int) (int, error) {
	conn.SetWriteDeadline(time.Now().Add(time.Minute))
	chunk := make([]byte, 1<<20)
	sent := 0
	for sent < n {
		k, err := conn.Write(chunk[:min(len(chunk), n-sent)])
		sent += k
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// closedByKernel reports whether the kernel closes the connection within the timeout.
func closedByKernel(conn net.Conn, timeout time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			return !errors.Is(err, os.ErrDeadlineExceeded)
		}
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func checkAnswers(t *testing.T, c *testClient) {
	t.Helper()
	rep, out := c.execute("40 + 2", false)
	if content(rep)["status"] != "ok" || len(out) < 2 || !strings.Contains(string(out[len(out)-2].Content), `"42"`) {
		t.Fatalf("the kernel should still work: %s %v", rep.Content, types(out))
	}
}

// A frame, or a multipart message, over MaxMessageSize is refused when its header comes, before the kernel
// allocates or reads it; the kernel goes on serving.
func TestOversizedMessagesAreRefusedBeforeTheyAreHeld(t *testing.T) {
	const huge = 400 << 20
	k, c := startTestKernel(t)
	for name, body := range map[string]struct {
		frames, size int // the message's last frames
	}{
		"one huge frame":               {1, huge},
		"frames over the limit in all": {5, 20 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			conn := zmtpPeer(t, k.ci.ShellPort, "DEALER")
			if _, err := conn.Write(dealerFrames()); err != nil {
				t.Fatal(err)
			}
			before := totalAlloc()
			sent, total := 0, body.frames*body.size
			var err error
			for i := 0; i < body.frames && err == nil; i++ {
				flags := byte(flagMore)
				if i == body.frames-1 {
					flags = 0
				}
				if _, err = conn.Write(frameHeader(flags, body.size)); err == nil {
					var n int
					n, err = sendBody(conn, body.size)
					sent += n
				}
			}
			if err == nil || !closedByKernel(conn, 10*time.Second) {
				t.Fatalf("the kernel read all %d bytes of a %d-byte message (err %v)", sent, total, err)
			}
			if sent >= total || sent > MaxMessageSize+(16<<20) {
				t.Fatalf("the kernel took %d bytes of a %d-byte message before refusing it", sent, total)
			}
			if grown := totalAlloc() - before; grown > MaxMessageSize+(8<<20) {
				t.Fatalf("the kernel allocated %d MiB for a refused %d MiB message", grown>>20, total>>20)
			}
			checkAnswers(t, c)
		})
	}
}

// Connections that each announce a big frame (under the limit) and send no more cannot make the kernel
// allocate more than its budget; a stalled one is closed and its reservation goes back.
func TestAnnouncedFramesShareABudgetAndStallsAreClosed(t *testing.T) {
	const conns, size = 6, 48 << 20
	limits := defaultLimits
	limits.stall = 3 * time.Second
	k, c := startTestKernelLimits(t, limits)
	before := totalAlloc()
	var peers []net.Conn
	for range conns {
		conn := zmtpPeer(t, k.ci.ShellPort, "DEALER")
		if _, err := conn.Write(append(append(dealerFrames(), frameHeader(0, size)...), 0)); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, conn)
	}
	time.Sleep(500 * time.Millisecond) // for the kernel to read the headers
	if grown := totalAlloc() - before; grown > uint64(limits.budget)+(8<<20) {
		t.Fatalf("%d connections announcing %d MiB made the kernel allocate %d MiB (budget %d MiB)",
			conns, size>>20, grown>>20, limits.budget>>20)
	}
	for i, conn := range peers {
		if !closedByKernel(conn, conns*limits.stall+10*time.Second) {
			t.Fatalf("stalled connection %d was not closed", i)
		}
	}
	// the budget is whole again: a request bigger than a small message goes through
	big := "x := 1 // " + strings.Repeat("y", 2*maxSmallMessage)
	if rep, _ := c.execute(big, false); content(rep)["status"] != "ok" {
		t.Fatalf("big cell: %s", rep.Content)
	}
	checkAnswers(t, c)
}

// A peer that connects and never finishes the handshake does not stop the kernel from accepting others (zmq4
// accepts one connection at a time).
func TestSilentConnectionsDoNotBlockAccepts(t *testing.T) {
	limits := defaultLimits
	limits.handshake = time.Second
	k, c := startTestKernelLimits(t, limits)
	silent, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", k.ci.ShellPort))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(100 * time.Millisecond) // for the kernel to accept it first
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	late := zmq4.NewDealer(ctx, zmq4.WithDialerTimeout(10*time.Second))
	defer late.Close()
	dialed := make(chan error, 1)
	go func() { dialed <- late.Dial(k.ci.endpoint(k.ci.ShellPort)) }()
	select {
	case err := <-dialed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a silent connection keeps the kernel from accepting")
	}
	if !closedByKernel(silent, 5*time.Second) {
		t.Fatal("the silent connection was not closed")
	}
	checkAnswers(t, c)
}

// The heartbeat echoes pings whatever else comes to its socket: a message that is no REQ request, and one too
// big to echo, which is refused.
func TestHeartbeatSurvivesBadPeers(t *testing.T) {
	k, _ := startTestKernel(t)
	ctx := context.Background()
	dealer := zmq4.NewDealer(ctx)
	defer dealer.Close()
	if err := dealer.Dial(k.ci.endpoint(k.ci.HBPort)); err != nil {
		t.Fatal(err)
	}
	if err := dealer.Send(zmq4.NewMsgString("no envelope")); err != nil {
		t.Fatal(err)
	}
	big := zmtpPeer(t, k.ci.HBPort, "REQ")
	big.Write(append(frameHeader(flagMore, 0), frameHeader(0, 1<<20)...))
	sendBody(big, 1<<20)
	if !closedByKernel(big, 10*time.Second) {
		t.Fatal("a 1 MiB heartbeat was taken")
	}
	req := zmq4.NewReq(ctx)
	defer req.Close()
	if err := req.Dial(k.ci.endpoint(k.ci.HBPort)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ping := fmt.Sprintf("ping %d", i)
		if err := req.Send(zmq4.NewMsgString(ping)); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			m, err := req.Recv()
			if err == nil {
				got <- string(m.Bytes())
			}
		}()
		select {
		case echo := <-got:
			if echo != ping {
				t.Fatalf("echo %q for %q", echo, ping)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no echo for %q", ping)
		}
	}
}

// A subscriber sends IOPub nothing but subscriptions; anything else would sit in zmq4's PUB socket for good.
func TestIOPubTakesOnlySubscriptions(t *testing.T) {
	k, c := startTestKernel(t)
	for name, msg := range map[string][]byte{
		"a message":      append(frameHeader(0, 5), "hello"...),
		"a big message":  append(frameHeader(0, 1<<20), make([]byte, 1<<20)...),
		"a multipart":    append(append(frameHeader(flagMore, 2), 1, 'x'), frameHeader(0, 1)...),
		"a command":      append(frameHeader(flagCommand, 5), 4, 'P', 'I', 'N', 'G'),
		"an empty frame": frameHeader(0, 0),
	} {
		t.Run(name, func(t *testing.T) {
			conn := zmtpPeer(t, k.ci.IOPubPort, "SUB")
			sub := append(frameHeader(0, 1), 1) // subscribe to everything
			conn.Write(append(sub, msg...))
			if !closedByKernel(conn, 10*time.Second) {
				t.Fatalf("IOPub took %s", name)
			}
		})
	}
	// a subscriber that only subscribes keeps its connection
	conn := zmtpPeer(t, k.ci.IOPubPort, "SUB")
	conn.Write(append(frameHeader(0, 1), 1))
	if closedByKernel(conn, time.Second) {
		t.Fatal("a subscriber's connection was closed")
	}
	checkAnswers(t, c)
}

// While a cell runs, badly signed requests are read and dropped, not queued behind the cell: a peer cannot
// have the kernel hold what it sends for as long as a cell takes.
func TestBadRequestsAreDroppedWhileACellRuns(t *testing.T) {
	const msgs, size = 20, 8 << 20
	k, c := startTestKernel(t)
	// the cell waits for input, so it runs until the test answers
	c.request(c.shell, "execute_request", map[string]any{"code": "import \"fmt\"\nvar s string\nfmt.Scanln(&s)\nfmt.Println(s)", "allow_stdin": true})
	if req := c.reply(c.stdin, 10*time.Second); req == nil || req.Header.MsgType != "input_request" {
		t.Fatalf("no input_request: %v", req)
	}
	conn := zmtpPeer(t, k.ci.ShellPort, "DEALER")
	for i := range msgs {
		conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write(append(dealerFrames(), frameHeader(0, size)...)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if _, err := sendBody(conn, size); err != nil {
			t.Fatalf("message %d of %d MiB was not read while the cell ran: %v", i, size>>20, err)
		}
	}
	c.request(c.stdin, "input_reply", map[string]any{"value": "done"})
	if rep := c.reply(c.shell, 10*time.Second); rep == nil || content(rep)["status"] != "ok" {
		t.Fatalf("the cell: %v", rep)
	}
	if m := c.reply(c.shell, time.Second); m != nil {
		t.Fatalf("a badly signed request was answered: %s", m.Header.MsgType)
	}
	c.drainUntilIdle(5 * time.Second)
	checkAnswers(t, c)
}

// zmq4 holds every frame of a message until its last: a peer that sends big frames with MORE and then stops
// keeps holding budget (not the kernel's memory beyond it) only until its time runs out, and is closed.
func TestUnfinishedMessagesHoldTheBudgetAndAreClosed(t *testing.T) {
	const conns, size = 6, 30 << 20
	limits := defaultLimits
	limits.stall = 3 * time.Second
	k, c := startTestKernelLimits(t, limits)
	before := totalAlloc()
	var peers []net.Conn
	for range conns {
		conn := zmtpPeer(t, k.ci.ShellPort, "DEALER")
		if _, err := conn.Write(append(dealerFrames(), frameHeader(flagMore, size)...)); err != nil {
			t.Fatal(err)
		}
		go sendBody(conn, size) // then silence, the message unfinished
		peers = append(peers, conn)
	}
	time.Sleep(time.Second) // for the kernel to read what fits its budget
	if grown := totalAlloc() - before; grown > uint64(limits.budget)+(8<<20) {
		t.Fatalf("%d unfinished messages of %d MiB made the kernel allocate %d MiB (budget %d MiB)",
			conns, size>>20, grown>>20, limits.budget>>20)
	}
	for i, conn := range peers {
		if !closedByKernel(conn, 3*limits.stall+10*time.Second) {
			t.Fatalf("unfinished message %d: its connection was not closed", i)
		}
	}
	checkAnswers(t, c)
}
