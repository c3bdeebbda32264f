package dispatcher_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors/builtins"
	"github.com/govalent/govalent/executors/redisq"
	"github.com/govalent/govalent/internal/testkit/wait"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics (with the token unless header says otherwise) and parses it with Prometheus' parser.
func scrape(t *testing.T, url string, header ...string) map[string]*dto.MetricFamily {
	t.Helper()
	resp := send(t, "GET", url+"/metrics", "", header...)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// value is the value of the series of family name with the given label values (name, value pairs).
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := families[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
series:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no series of %s with %v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.cell(`
import "errors"
func Double(x int) int { return 2 * x }
func Broken() (int, error) { return 0, errors.New("broken") }
var double = ct.Electron(Double)
var broken = ct.Electron(Broken, ct.Retries(1))
var mixed = ct.Lattice(func() []ct.Future { return []ct.Future{double(1), double(2), broken()} })
var fine = ct.Lattice(func() ct.Future { return double(3) })
failed, err := ct.DispatchSync(mixed)
completed, err2 := ct.DispatchSync(fine)
`)
	if r := e.result("failed"); r.Status != ct.StatusFailed {
		t.Fatalf("mixed: %s", r.Status)
	}
	if r := e.result("completed"); r.Status != ct.StatusCompleted {
		t.Fatalf("fine: %s", r.Status)
	}
	m := scrape(t, e.url)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"govalent_tasks_started_total", 5}, // two attempts of broken
		{"govalent_tasks_completed_total", 3},
		{"govalent_tasks_failed_total", 1},
		{"govalent_tasks_retried_total", 1},
	} {
		if got := value(t, m, c.name, "executor", "pool"); got != c.want {
			t.Errorf("%s{executor=pool} = %v, want %v", c.name, got, c.want)
		}
	}
	for status, want := range map[ct.Status]float64{ct.StatusCompleted: 1, ct.StatusFailed: 1, ct.StatusRunning: 0} {
		if got := value(t, m, "govalent_dispatches", "status", string(status)); got != want {
			t.Errorf("govalent_dispatches{status=%s} = %v, want %v", status, got, want)
		}
	}
	if got := value(t, m, "govalent_executor_workers", "executor", "pool"); got != 2 {
		t.Errorf("pool workers: %v", got)
	}
	if got := value(t, m, "govalent_store_commit_seconds"); got < 1 {
		t.Errorf("store commits observed: %v", got)
	}
	if native() { // the two lattices ship different programs: two builds
		if got := value(t, m, "govalent_native_builds_total", "result", "built"); got != 2 {
			t.Errorf("native builds: %v", got)
		}
		if got := value(t, m, "govalent_native_build_seconds"); got != 2 {
			t.Errorf("native build times observed: %v", got)
		}
		e.cell(`again, err3 := ct.DispatchSync(fine)`)
		if got := value(t, scrape(t, e.url), "govalent_native_builds_total", "result", "cached"); got != 1 {
			t.Errorf("native build cache hits: %v", got)
		}
	}
	// DispatchSync watched its dispatch over the event stream; the dispatcher notices that stream close soon after.
	wait.For(t, "the cells' event streams to close", 5*time.Second, func() bool {
		return value(t, scrape(t, e.url), "govalent_event_subscribers") == 0
	})

	// an open event stream is counted while it is open
	resp := send(t, "GET", e.url+"/api/v1/events", "")
	defer resp.Body.Close()
	bufio.NewReader(resp.Body).ReadString('\n') // the stream has begun
	wait.For(t, "the subscriber to be counted", 5*time.Second, func() bool {
		return value(t, scrape(t, e.url), "govalent_event_subscribers") == 1
	})
}

// /metrics needs the token, unless the dispatcher is configured to serve it open.
func TestMetricsNeedTheTokenUnlessOpen(t *testing.T) {
	e := newEnv(t)
	for _, auth := range []string{"", "Bearer wrong"} {
		resp := send(t, "GET", e.url+"/metrics", "", "Authorization", auth)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/metrics with %q: %s", auth, resp.Status)
		}
	}
	open, _ := startEnv(t, dispatcher.Config{MetricsOpen: true})
	if m := scrape(t, open.url, "Authorization", ""); m["govalent_tasks_started_total"] == nil && m["govalent_dispatches"] == nil {
		t.Fatal("the open /metrics lacks govalent's metrics")
	}
}

// With the Redis pool, the tasks no worker has taken show as its queue's depth.
func TestMetricsShowRedisQueueDepths(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	redis := exec.Command("/usr/bin/redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := redis.Start(); err != nil {
		t.Fatalf("redis-server (install/test-deps.sh installs it): %v", err)
	}
	t.Cleanup(func() { redis.Process.Kill(); redis.Wait() })
	wait.For(t, "redis-server to listen", 5*time.Second, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	execs, err := builtins.New(builtins.Config{Workers: 1, WorkerCommand: []string{workerBinary, "worker", "--pipe"},
		Redis: "redis://127.0.0.1:" + port + "/0", RedisKey: []byte(strings.Repeat("k", redisq.MinKeyLen)),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := startEnv(t, dispatcher.Config{Executors: execs})
	e.cell(`
func Wait(x int) int { return x }
var wait = ct.Electron(Wait)
var waiting = ct.Lattice(func() []ct.Future { return []ct.Future{wait(1), wait(2)} })
id, err := ct.Dispatch(waiting) // no worker takes its tasks
`)
	wait.For(t, "two tasks queued in Redis", 10*time.Second, func() bool {
		m := scrape(t, e.url)
		return m["govalent_pool_queue_depth"] != nil && value(t, m, "govalent_pool_queue_depth", "executor", "pool") == 2
	})
	m := scrape(t, e.url)
	if got := value(t, m, "govalent_pool_lease_recoveries_total", "executor", "pool"); got != 0 {
		t.Fatalf("lease recoveries with no worker: %v", got)
	}
	if got := value(t, m, "govalent_pool_leased_tasks", "executor", "pool"); got != 0 {
		t.Fatalf("leased with no worker: %v", got)
	}
	if got := value(t, m, "govalent_dispatches", "status", string(ct.StatusRunning)); got != 1 {
		t.Fatalf("running dispatches: %v", got)
	}
}
