package kernel

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/google/uuid"
)

// testClient speaks the protocol to an in-process kernel the way a Jupyter frontend does.
type testClient struct {
	t                     testing.TB
	sig                   signer
	session               string
	shell, control, stdin zmq4.Socket
	iopub                 zmq4.Socket
	iopubMsgs             chan *Message
	replies               map[zmq4.Socket]chan *Message
}

func freePorts(t testing.TB, n int) []int {
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func startTestKernel(t testing.TB) (*Kernel, *testClient) {
	t.Helper()
	return startTestKernelLimits(t, wireLimits{})
}

// startTestKernelLimits starts a kernel with the given connection limits (the defaults if zero).
func startTestKernelLimits(t testing.TB, limits wireLimits) (*Kernel, *testClient) {
	t.Helper()
	p := freePorts(t, 5)
	ci := &ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", Key: "test-key", SignatureScheme: "hmac-sha256",
		ShellPort: p[0], ControlPort: p[1], StdinPort: p[2], IOPubPort: p[3], HBPort: p[4]}
	k, err := Start(ci, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), limits: limits,
		Evaluator: testEvaluator(t), EvaluatorMemory: testEvaluatorMemory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.stop)
	ctx := context.Background()
	c := &testClient{t: t, sig: signer{key: []byte(ci.Key)}, session: uuid.NewString(), iopubMsgs: make(chan *Message, 1000), replies: map[zmq4.Socket]chan *Message{}}
	id := zmq4.WithID(zmq4.SocketIdentity(c.session))
	c.shell, c.control, c.stdin = zmq4.NewDealer(ctx, id), zmq4.NewDealer(ctx, id), zmq4.NewDealer(ctx, id)
	c.iopub = zmq4.NewSub(ctx)
	for _, d := range []struct {
		s    zmq4.Socket
		port int
	}{{c.shell, p[0]}, {c.control, p[1]}, {c.stdin, p[2]}, {c.iopub, p[3]}} {
		if err := d.s.Dial(ci.endpoint(d.port)); err != nil {
			t.Fatal(err)
		}
	}
	c.iopub.SetOption(zmq4.OptionSubscribe, "")
	t.Cleanup(func() {
		for _, s := range []zmq4.Socket{c.shell, c.control, c.stdin, c.iopub} {
			s.Close()
		}
	})
	go c.read(c.iopub, c.iopubMsgs)
	for _, s := range []zmq4.Socket{c.shell, c.control, c.stdin} {
		ch := make(chan *Message, 100)
		c.replies[s] = ch
		go c.read(s, ch)
	}
	// IOPub subscriptions take a moment: wait until kernel_info's status messages arrive.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.request(c.shell, "kernel_info_request", map[string]any{})
		c.reply(c.shell, 5*time.Second)
		if c.drainUntilIdle(500*time.Millisecond) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no IOPub messages")
		}
	}
	return k, c
}

// TestEvaluatorEnv makes this test binary an evaluator (see TestMain): exported for the external test package.
const TestEvaluatorEnv = "GOVALENT_TEST_EVALUATOR"

// testEvaluator is this test binary, started again as an evaluator (see TestMain).
func testEvaluator(t testing.TB) EvaluatorCommand {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return EvaluatorCommand{Path: exe, Env: []string{TestEvaluatorEnv + "=1"}}
}

func (c *testClient) read(s zmq4.Socket, ch chan *Message) {
	for {
		zm, err := s.Recv()
		if err != nil {
			return
		}
		fs := zm.Frames
		if s == c.iopub {
			fs = fs[1:] // topic
		}
		m, err := c.sig.decode(append([][]byte{nil}, fs...))
		if err != nil {
			c.t.Errorf("client: undecodable message: %v", err)
			continue
		}
		ch <- m
	}
}

func (c *testClient) request(s zmq4.Socket, msgType string, content any) Header {
	h := newHeader(msgType, c.session)
	fs, err := c.sig.encode(nil, h, nil, content)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := s.SendMulti(zmq4.NewMsgFrom(fs...)); err != nil {
		c.t.Fatal(err)
	}
	return h
}

func (c *testClient) reply(s zmq4.Socket, timeout time.Duration) *Message {
	select {
	case m := <-c.replies[s]:
		return m
	case <-time.After(timeout):
		return nil
	}
}

// drainUntilIdle collects IOPub messages up to an idle status; nil if none came.
func (c *testClient) drainUntilIdle(timeout time.Duration) []*Message {
	var out []*Message
	for {
		select {
		case m := <-c.iopubMsgs:
			out = append(out, m)
			var st struct {
				State string `json:"execution_state"`
			}
			json.Unmarshal(m.Content, &st)
			if m.Header.MsgType == "status" && st.State == "idle" {
				return out
			}
		case <-time.After(timeout):
			return out
		}
	}
}

func (c *testClient) execute(code string, allowStdin bool) (*Message, []*Message) {
	c.request(c.shell, "execute_request", map[string]any{"code": code, "silent": false, "store_history": true, "allow_stdin": allowStdin, "user_expressions": map[string]any{}})
	rep := c.reply(c.shell, 30*time.Second)
	if rep == nil {
		c.t.Fatalf("no execute_reply for %q", code)
	}
	return rep, c.drainUntilIdle(5 * time.Second)
}

func content(m *Message) map[string]any {
	var v map[string]any
	json.Unmarshal(m.Content, &v)
	return v
}

func types(msgs []*Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Header.MsgType)
	}
	return out
}

func TestMessagesWithBadSignaturesAreDropped(t *testing.T) {
	_, c := startTestKernel(t)
	forged, err := signer{key: []byte("wrong")}.encode(nil, newHeader("execute_request", c.session), nil, map[string]any{"code": `panic("must not run")`})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.shell.SendMulti(zmq4.NewMsgFrom(forged...)); err != nil {
		t.Fatal(err)
	}
	if m := c.reply(c.shell, time.Second); m != nil {
		t.Fatalf("a message with a bad signature was answered: %s", m.Header.MsgType)
	}
	rep, out := c.execute("40 + 2", false)
	if content(rep)["status"] != "ok" || !strings.Contains(string(out[len(out)-2].Content), `"42"`) {
		t.Fatalf("the kernel should still work: %s %v", rep.Content, types(out))
	}
}

func TestErrorIsOneOutputPointingAtTheCellLine(t *testing.T) {
	_, c := startTestKernel(t)
	rep, out := c.execute("x := 1\n\ny := x + undefinedThing", false)
	if content(rep)["status"] != "error" {
		t.Fatalf("%s", rep.Content)
	}
	got := types(out)
	if strings.Join(got, ",") != "status,execute_input,error,status" {
		t.Fatalf("IOPub: %v", got)
	}
	tb := content(out[2])["traceback"].([]any)
	if !strings.Contains(tb[0].(string), "cell1:3:10: undefined: undefinedThing") {
		t.Fatalf("traceback %v", tb)
	}
	_, out = c.execute(`import "fmt"`+"\nfunc Boom() { panic(fmt.Sprint(\"boom\")) }\nBoom()", false)
	if got := types(out); strings.Join(got, ",") != "status,execute_input,error,status" {
		t.Fatalf("panic IOPub: %v", got)
	}
	tb = content(out[2])["traceback"].([]any)
	if !strings.Contains(tb[0].(string), "panic: boom") || !strings.Contains(strings.Join(toStrings(tb), "\n"), "cell2:2:") {
		t.Fatalf("panic traceback %v", tb)
	}
}

func toStrings(v []any) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i], _ = x.(string)
	}
	return out
}

func TestStdinReadsAskTheFrontend(t *testing.T) {
	_, c := startTestKernel(t)
	c.request(c.shell, "execute_request", map[string]any{"code": "import \"fmt\"\nvar name string\nfmt.Scanln(&name)\nfmt.Println(\"hello\", name)", "allow_stdin": true})
	req := c.reply(c.stdin, 10*time.Second)
	if req == nil || req.Header.MsgType != "input_request" {
		t.Fatalf("no input_request: %v", req)
	}
	c.request(c.stdin, "input_reply", map[string]any{"value": "gopher"})
	if rep := c.reply(c.shell, 10*time.Second); rep == nil || content(rep)["status"] != "ok" {
		t.Fatalf("reply %v", rep)
	}
	out := c.drainUntilIdle(5 * time.Second)
	found := false
	for _, m := range out {
		if m.Header.MsgType == "stream" && strings.Contains(content(m)["text"].(string), "hello gopher") {
			found = true
		}
	}
	if !found {
		t.Fatalf("outputs %v", types(out))
	}
}

func TestRichDisplayOfInterpretedTypes(t *testing.T) {
	_, c := startTestKernel(t)
	_, out := c.execute("type Card struct{ Title string }\nfunc (c Card) HTML() string { return \"<h3>\" + c.Title + \"</h3>\" }\nCard{Title: \"hi\"}", false)
	for _, m := range out {
		if m.Header.MsgType == "execute_result" {
			data := content(m)["data"].(map[string]any)
			if data["text/html"] != "<h3>hi</h3>" || data["text/plain"] == nil {
				t.Fatalf("data %v", data)
			}
			return
		}
	}
	t.Fatalf("no execute_result: %v", types(out))
}

func TestCommsAndShutdown(t *testing.T) {
	k, c := startTestKernel(t)
	c.request(c.shell, "comm_info_request", map[string]any{})
	if m := c.reply(c.shell, 5*time.Second); m == nil || m.Header.MsgType != "comm_info_reply" {
		t.Fatalf("comm_info: %v", m)
	}
	c.drainUntilIdle(time.Second)
	c.request(c.shell, "comm_open", map[string]any{"comm_id": "c1", "target_name": "nothing", "data": map[string]any{}})
	out := c.drainUntilIdle(2 * time.Second)
	if got := strings.Join(types(out), ","); got != "status,comm_close,status" {
		t.Fatalf("comm_open: %s", got)
	}
	c.request(c.control, "shutdown_request", map[string]any{"restart": false})
	if m := c.reply(c.control, 5*time.Second); m == nil || content(m)["status"] != "ok" {
		t.Fatalf("shutdown_reply %v", m)
	}
	done := make(chan struct{})
	go func() { k.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the kernel did not stop")
	}
}

// A captured request sent again, on the same channel or another, is dropped: the cell runs once.
func TestReplayedRequestRunsOnce(t *testing.T) {
	_, c := startTestKernel(t)
	fs, err := c.sig.encode(nil, newHeader("execute_request", c.session), nil, map[string]any{"code": `import "fmt"` + "\nfmt.Println(\"ran\")", "silent": false, "store_history": true})
	if err != nil {
		t.Fatal(err)
	}
	send := func(s zmq4.Socket) {
		if err := s.SendMulti(zmq4.NewMsgFrom(fs...)); err != nil {
			t.Fatal(err)
		}
	}
	send(c.shell)
	send(c.shell)
	rep := c.reply(c.shell, 30*time.Second)
	if rep == nil || content(rep)["status"] != "ok" || content(rep)["execution_count"] != 1.0 {
		t.Fatalf("first execute_reply: %v", rep)
	}
	runs := 0
	for _, m := range c.drainUntilIdle(5 * time.Second) {
		if m.Header.MsgType == "stream" && strings.Contains(content(m)["text"].(string), "ran") {
			runs++
		}
	}
	send(c.control) // once the first has run, as the other channel might be read first
	if m := c.reply(c.shell, 2*time.Second); m != nil {
		t.Fatalf("the replay on shell was answered: %s %s", m.Header.MsgType, m.Content)
	}
	if m := c.reply(c.control, time.Second); m != nil {
		t.Fatalf("the replay on control was answered: %s %s", m.Header.MsgType, m.Content)
	}
	for _, m := range c.drainUntilIdle(time.Second) {
		if m.Header.MsgType == "stream" {
			runs++
		}
	}
	if runs != 1 {
		t.Fatalf("the cell ran %d times", runs)
	}
	// the kernel still runs fresh requests, and the replays took no execution count
	rep, _ = c.execute("40 + 2", false)
	if content(rep)["status"] != "ok" || content(rep)["execution_count"] != 2.0 {
		t.Fatalf("next cell: %s", rep.Content)
	}
}
