package dispatcher

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/govalent/govalent/internal/testkit/wait"
)

func nodeEvent(dispatch string, i int) Event {
	return Event{Type: "node", DispatchID: dispatch, NodeID: &i, Status: "RUNNING", Name: "Inc"}
}

// Every subscriber an event matches gets the same encoded frame, and subscribers it does not match get
// nothing.
func TestHubEncodesEachEventOnce(t *testing.T) {
	h := newHub()
	var matching, others []*subscriber
	for _, f := range []eventFilter{{}, {typ: "node"}, {dispatch: "d"}, {dispatch: "d", typ: "node"}, {}} {
		s, err := h.subscribe(f)
		if err != nil {
			t.Fatal(err)
		}
		matching = append(matching, s)
	}
	for i := range 100 {
		s, _ := h.subscribe(eventFilter{dispatch: fmt.Sprint("other", i)})
		others = append(others, s)
	}
	s, _ := h.subscribe(eventFilter{typ: "dispatch"})
	others = append(others, s)
	h.publish(nodeEvent("d", 7))
	var first []byte
	for i, s := range matching {
		frames, lagged := s.take(make([][]byte, 0, 8))
		if lagged || len(frames) != 1 {
			t.Fatalf("subscriber %d (%+v): %d frames, lagged %v", i, s.f, len(frames), lagged)
		}
		if first == nil {
			first = frames[0]
		} else if &frames[0][0] != &first[0] {
			t.Fatalf("subscriber %d (%+v) got its own copy of the frame: encoded again", i, s.f)
		}
	}
	data, ok := strings.CutPrefix(string(first), "event: node\ndata: ")
	var ev Event
	if !ok || !strings.HasSuffix(data, "\n\n") || json.Unmarshal([]byte(data), &ev) != nil || ev.DispatchID != "d" || *ev.NodeID != 7 || ev.Time.IsZero() {
		t.Fatalf("frame %q", first)
	}
	for _, s := range others {
		select {
		case <-s.ready():
			t.Fatalf("subscriber %+v was woken by another dispatch's node event", s.f)
		default:
		}
		if frames, lagged := s.take(make([][]byte, 0, 8)); len(frames) != 0 || lagged {
			t.Fatalf("subscriber %+v: %d frames, lagged %v", s.f, len(frames), lagged)
		}
	}
}

// A subscriber that keeps up reads every event in order; one that falls more than the ring behind learns it
// lagged rather than reading a stream with a gap.
func TestHubTellsASlowSubscriberItLagged(t *testing.T) {
	h := newHub()
	h.ring = 64
	slow, _ := h.subscribe(eventFilter{})
	quick, _ := h.subscribe(eventFilter{dispatch: "d"})
	buf := make([][]byte, 0, 10)
	got := 0
	for i := range 3 * h.ring {
		h.publish(nodeEvent("d", i))
		if i%7 == 0 {
			for {
				frames, lagged := quick.take(buf[:0])
				if lagged {
					t.Fatalf("a subscriber %d events behind lagged", h.ring/7+1)
				}
				if len(frames) == 0 {
					break
				}
				for _, f := range frames {
					if want := fmt.Sprintf(`"node_id":%d,`, got); !strings.Contains(string(f), want) {
						t.Fatalf("frame %q, want %s", f, want)
					}
					got++
				}
			}
		}
	}
	if _, lagged := slow.take(buf[:0]); !lagged {
		t.Fatal("a subscriber that read none of 3 rings of events did not lag")
	}
}

// However many subscribers never read, the hub keeps at most a ring of frames per topic.
func TestHubMemoryBoundedWithIdleSubscribers(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := newHub()
	for i := range h.max {
		f := eventFilter{}
		if i%2 == 1 {
			f.dispatch = "d"
		}
		if _, err := h.subscribe(f); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50_000 {
		h.publish(nodeEvent("d", i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Two topics, each a ring of frames of about 150 bytes: under 2 MiB; the old per-subscriber queues held
	// 1000 × 4096 events.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 4<<20 {
		t.Fatalf("heap grew by %d MiB with %d idle subscribers", grown>>20, h.max)
	}
	runtime.KeepAlive(h) // and its subscribers' state
	if _, err := h.subscribe(eventFilter{}); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("subscriber %d: %v", h.max+1, err)
	}
}

// streamServer serves h's event stream (unfiltered) on 127.0.0.1.
func streamServer(t *testing.T, h *hub) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, eventFilter{}) }))
	t.Cleanup(func() {
		h.close()
		srv.Close()
	})
	return srv
}

// openStream connects to the event stream and sends the request; it reads nothing.
func openStream(t *testing.T, srv *httptest.Server) net.Conn {
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

// Clients that never read cannot hold the publisher up, nor keep their goroutines and connections: once a
// write to them times out they are dropped.
func TestEventStreamDropsClientsThatNeverRead(t *testing.T) {
	h := newHub()
	h.writeTimeout = 300 * time.Millisecond
	srv := streamServer(t, h)
	base := runtime.NumGoroutine()
	const clients = 20
	for range clients {
		openStream(t, srv)
	}
	wait.For(t, "the clients subscribed", 10*time.Second, func() bool { return h.subscribers() == clients })
	// 40,000 events of about 150 bytes: far more than a connection's buffers hold.
	for i := range 40_000 {
		h.publish(nodeEvent("d", i))
	}
	wait.For(t, "the clients that never read were dropped", 10*time.Second, func() bool { return h.subscribers() == 0 })
	wait.For(t, "their goroutines ended", 10*time.Second, func() bool { return runtime.NumGoroutine() <= base })
}

// A client that stops reading and falls more than the ring behind gets the events it could take, in order,
// then a "lagged" event, and the stream ends: it reconnects and re-reads the state.
func TestEventStreamSendsLaggedThenCloses(t *testing.T) {
	h := newHub()
	h.ring = 64
	srv := streamServer(t, h)
	c := openStream(t, srv)
	wait.For(t, "the client subscribed", 10*time.Second, func() bool { return h.subscribers() == 1 })
	h.publish(nodeEvent("d", 0))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%v %+v", err, resp)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: ") { // up to the first event, which is read below
	}
	for i := 1; i < 40_000; i++ { // while the client reads nothing
		h.publish(nodeEvent("d", i))
	}
	events := []Event{{}} // the first, checked below
	if err := json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), "data: ")), &events[0]); err != nil {
		t.Fatalf("%q: %v", sc.Text(), err)
	}
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("%q: %v", data, err)
			}
			events = append(events, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("the stream did not end: %v", err)
	}
	n := len(events) - 1
	if n < 1 || events[n].Type != "lagged" {
		t.Fatalf("%d events, the last %+v: want events then lagged", len(events), events[len(events)-1])
	}
	for i, ev := range events[:n] {
		if ev.NodeID == nil || *ev.NodeID != i {
			t.Fatalf("event %d is %+v", i, ev)
		}
	}
	if n >= 40_000-h.ring {
		t.Fatalf("%d events before lagged: the client was not behind", n)
	}
	wait.For(t, "the lagging subscriber was dropped", 10*time.Second, func() bool { return h.subscribers() == 0 })
}

// Publishing costs the same whatever the number of subscribers, idle or not, and allocates only the frame.
func BenchmarkHubPublish(b *testing.B) {
	for _, subs := range []int{0, 1, 1000} {
		b.Run(fmt.Sprint("subscribers=", subs), func(b *testing.B) {
			h := newHub()
			for i := range subs {
				f := eventFilter{}
				switch i % 3 {
				case 1:
					f.dispatch = "d"
				case 2:
					f.dispatch = fmt.Sprint("other", i)
				}
				h.subscribe(f)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.publish(nodeEvent("d", i))
			}
		})
	}
}
