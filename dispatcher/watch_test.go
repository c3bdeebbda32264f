package dispatcher_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// napsCell defines naps(n, ms, fail): n electrons that sleep ms each, node fail panicking (with a two-line
// message), then one that counts them: n+2 nodes with the list between.
const napsCell = `import "time"

func Nap(i, ms, fail int) int {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	if i == fail {
		panic("nap failed\nsecond line")
	}
	return i
}

func Count(xs []int) int { return len(xs) }

var nap = ct.Electron(Nap)
var count = ct.Electron(Count)
var naps = ct.Lattice(func(n, ms, fail int) ct.Future {
	var fs []ct.Future
	for i := 0; i < n; i++ {
		fs = append(fs, nap(i, ms, fail))
	}
	return count(fs)
}, ct.Name("naps"))
`

// dispatchNaps dispatches naps in e's session and returns the dispatch id.
func dispatchNaps(e *env, n, ms, fail int) string {
	e.t.Helper()
	e.cell(napsCell)
	e.cell(fmt.Sprintf("napsID, err := ct.Dispatch(naps, %d, %d, %d)\nif err != nil { panic(err) }", n, ms, fail))
	return e.value("napsID").(string)
}

// watchAll reads w to its end, within limit; it checks that what it reads never goes back.
func watchAll(t *testing.T, w <-chan ct.Progress, limit time.Duration) []ct.Progress {
	t.Helper()
	var got []ct.Progress
	deadline := time.After(limit)
	for {
		select {
		case p, ok := <-w:
			if !ok {
				return got
			}
			if n := len(got); n > 0 && finishedNodes(p) < finishedNodes(got[n-1]) {
				t.Errorf("progress went back: %+v after %+v", p.Nodes, got[n-1].Nodes)
			}
			got = append(got, p)
		case <-deadline:
			t.Fatalf("after %s the watch had not ended; it read %d progresses", limit, len(got))
		}
	}
}

func finishedNodes(p ct.Progress) int {
	return p.Nodes[ct.StatusCompleted] + p.Nodes[ct.StatusFailed] + p.Nodes[ct.StatusCancelled]
}

// wantFinal checks that the last progress is Done and is what the whole final result counts.
func wantFinal(t *testing.T, c *ct.Client, id string, got []ct.Progress) {
	t.Helper()
	if len(got) == 0 {
		t.Fatal("the watch read nothing")
	}
	last := got[len(got)-1]
	res, err := c.GetResult(id, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := ct.ProgressOf(res); !last.Done() || !reflect.DeepEqual(last, *want) {
		t.Fatalf("the watch ends at\n%+v\nthe final result counts\n%+v", last, *want)
	}
}

// countingServer serves d's API, counting the requests for each path.
func countingServer(t *testing.T, d *dispatcher.Dispatcher) (*httptest.Server, *sync.Map) {
	var counts sync.Map // path -> *atomic.Int64
	h := d.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := counts.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &counts
}

func requests(counts *sync.Map, path string) int64 {
	if n, ok := counts.Load(path); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// Watch follows a dispatch with a failing node to its end: what it reads only goes forward, and its last
// Progress is what the final result counts, with no full result fetched.
func TestWatchFollowsADispatchToItsEnd(t *testing.T) {
	e := newEnv(t)
	srv, counts := countingServer(t, e.d)
	id := dispatchNaps(e, 12, 60, 7)
	c := ct.NewClient(srv.URL)
	w, err := c.Watch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := watchAll(t, w, time.Minute)
	if n := requests(counts, "/api/v1/dispatches/"+id); n != 0 {
		t.Errorf("the watch fetched the whole result %d times", n)
	}
	wantFinal(t, c, id, got)
	last := got[len(got)-1]
	if last.Status != ct.StatusFailed || last.Total != 14 || last.Nodes[ct.StatusFailed] != 1 || last.Nodes[ct.StatusNew] != 2 ||
		len(last.Failures) != 1 || last.Failures[0].NodeID != 7 || !strings.HasSuffix(last.Failures[0].Error, "nap failed\n") {
		t.Errorf("final progress %+v", last)
	}
	t.Logf("%d progresses, %d reads of the progress, %d event streams", len(got),
		requests(counts, "/api/v1/dispatches/"+id+"/progress"), requests(counts, "/api/v1/events"))
}

// A dispatch that finished before Watch was called: one Progress, Done, and the channel closes.
func TestWatchADispatchThatHasFinished(t *testing.T) {
	e := newEnv(t)
	id := dispatchNaps(e, 3, 0, -1)
	c := e.client()
	if _, err := c.GetResult(id, true); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := watchAll(t, w, 10*time.Second)
	if len(got) != 1 {
		t.Errorf("%d progresses for a finished dispatch, want 1", len(got))
	}
	wantFinal(t, c, id, got)
	if got[0].Status != ct.StatusCompleted || got[0].Nodes[ct.StatusCompleted] != 5 {
		t.Errorf("%+v", got[0])
	}
	if _, err := c.Watch(context.Background(), "no-such-dispatch"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("watching an unknown dispatch: %v", err)
	}
}

// With a ring of one event, the stream lags as soon as two events come close together: each time the
// client subscribes again and reads the state afresh, and still ends at the final counts.
func TestWatchResyncsWhenItLags(t *testing.T) {
	e := newEnv(t)
	dispatcher.SetEventRing(e.d, 1)
	srv, counts := countingServer(t, e.d)
	id := dispatchNaps(e, 30, 10, -1)
	c := ct.NewClient(srv.URL)
	w, err := c.Watch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := watchAll(t, w, time.Minute)
	wantFinal(t, c, id, got)
	if n := requests(counts, "/api/v1/events"); n < 2 {
		t.Errorf("%d event streams: the stream never lagged", n)
	}
	t.Logf("%d event streams for %d progresses", requests(counts, "/api/v1/events"), len(got))
}

// relay forwards TCP connections to a dispatcher that can be swapped, and drops them all on demand: a
// dropped connection, or a dispatcher that restarts at the same address.
type relay struct {
	ln    net.Listener
	mu    sync.Mutex
	to    string
	conns map[net.Conn]bool
}

func newRelay(t *testing.T, to string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, to: to, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); r.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			to := r.to
			r.mu.Unlock()
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns[in], r.conns[out] = true, true
			r.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return r
}

func (r *relay) url() string { return "http://" + r.ln.Addr().String() }

func (r *relay) point(to string) {
	r.mu.Lock()
	r.to = to
	r.mu.Unlock()
}

func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.Close()
	}
	clear(r.conns)
}

// The connection drops, then the dispatcher restarts (on the same data, at the same address, resuming the
// dispatch): Watch subscribes again, reads again, and ends at the final counts.
func TestWatchSurvivesDropsAndARestart(t *testing.T) {
	dir := t.TempDir()
	e, stop := startEnv(t, dispatcher.Config{DataDir: dir})
	via := newRelay(t, strings.TrimPrefix(e.url, "http://"))
	t.Setenv("GOVALENT_DISPATCHER", via.url())
	c := ct.NewClient(via.url())
	before := dispatchNaps(e, 2, 0, 1) // finished before the restart: after it, counted from the store
	if _, err := c.GetResult(before, true); err != nil {
		t.Fatal(err)
	}
	id := dispatchNaps(e, 8, 400, -1)
	w, err := c.Watch(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var got []ct.Progress
	got = append(got, <-w)
	via.cut() // a dropped connection
	time.Sleep(300 * time.Millisecond)
	stop()
	via.cut()
	time.Sleep(500 * time.Millisecond) // the dispatcher is away: Watch retries
	e2, _ := startEnv(t, dispatcher.Config{DataDir: dir})
	via.point(strings.TrimPrefix(e2.url, "http://"))
	got = append(got, watchAll(t, w, time.Minute)...)
	wantFinal(t, c, id, got)
	if last := got[len(got)-1]; last.Status != ct.StatusCompleted || last.Nodes[ct.StatusCompleted] != 10 {
		t.Errorf("final progress %+v", last)
	}
	if p, _ := dispatcher.ProgressAndResult(e2.d, before); p != nil {
		t.Fatal("the dispatch finished before the restart is in memory")
	}
	p, err := c.Progress(context.Background(), before)
	if err != nil {
		t.Fatal(err)
	}
	wantFinal(t, c, before, []ct.Progress{*p})
	if p.Status != ct.StatusFailed || len(p.Failures) != 1 || p.Failures[0].NodeID != 1 {
		t.Errorf("stored progress %+v", p)
	}
}

// Cancelling the context ends the watch at once, and its event stream with it.
func TestWatchEndsWithItsContext(t *testing.T) {
	e := newEnv(t)
	id := dispatchNaps(e, 2, 20_000, -1)
	c := e.client()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if p := <-w; p.Done() {
		t.Fatalf("the dispatch finished already: %+v", p)
	}
	cancel()
	got := watchAll(t, w, 5*time.Second)
	for _, p := range got {
		if p.Done() {
			t.Errorf("a progress after the cancel is Done: %+v", p)
		}
	}
	wait.For(t, "the event stream was closed", 5*time.Second, func() bool {
		var rep dispatcher.StatusReport
		return c.Status(&rep) == nil && rep.EventSubscribers == 0
	})
	if err := c.Cancel(id); err != nil {
		t.Fatal(err)
	}
}

// The progress counted in the scheduler is, at every moment of a dispatch, what its result counts: the
// same nodes show RUNNING while their outcome is being stored, and the dispatch while its end is.
func TestProgressCountsWhatTheResultShows(t *testing.T) {
	e := newEnv(t)
	id := dispatchNaps(e, 12, 30, 5)
	samples := 0
	for deadline := time.Now().Add(time.Minute); ; samples++ {
		p, res := dispatcher.ProgressAndResult(e.d, id)
		if p == nil {
			t.Fatal("the dispatch is not in memory")
		}
		if want := ct.ProgressOf(res); !reflect.DeepEqual(p, want) {
			t.Fatalf("sample %d: the progress is\n%+v\nthe result counts\n%+v", samples, p, want)
		}
		if p.Done() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dispatch did not finish")
		}
	}
	t.Logf("%d samples", samples)
}
