package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/native"
	"github.com/govalent/govalent/results"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// taskMetrics count, by executor, the tasks the engine hands out and how their outcomes settle them.
type taskMetrics struct {
	started, completed, failed, retried, cancelled *prometheus.CounterVec
}

func newTaskMetrics() *taskMetrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "govalent_tasks_" + name + "_total", Help: help}, []string{"executor"})
	}
	return &taskMetrics{
		started:   counter("started", "Tasks handed to an executor (each attempt counts)."),
		completed: counter("completed", "Tasks that succeeded (a sublattice's task: its graph was built)."),
		failed:    counter("failed", "Tasks that failed with no retry left: their node failed."),
		retried:   counter("retried", "Tasks that failed and whose node is tried again."),
		cancelled: counter("cancelled", "Tasks stopped by a cancellation."),
	}
}

// settled counts a task's outcome; retried says whether its node will be tried again.
func (m *taskMetrics) settled(executor string, oc executors.Outcome, retried bool) {
	c := m.completed
	switch {
	case oc.Cancelled:
		c = m.cancelled
	case retried:
		c = m.retried
	case oc.Error != "":
		c = m.failed
	}
	c.WithLabelValues(executor).Inc()
}

func (m *taskMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.started, m.completed, m.failed, m.retried, m.cancelled}
}

// nativeMetrics count the engine's requests for native worker binaries and time the builds.
type nativeMetrics struct {
	builds    *prometheus.CounterVec
	buildTime prometheus.Histogram
}

func newNativeMetrics() *nativeMetrics {
	return &nativeMetrics{
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "govalent_native_builds_total",
			Help: "Native worker binaries a dispatch asked for, by result: built, cached (a cache hit), compile_error (the user's code), failed (govalent's)."}, []string{"result"}),
		buildTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "govalent_native_build_seconds",
			Help: "How long building a native worker binary took (cache hits are not builds).", Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 30, 60, 120}}),
	}
}

// built counts one Build's result.
func (m *nativeMetrics) built(bin *native.Binary, err error) {
	var compileErr *native.CompileError
	var moduleErr *native.ModuleError
	switch {
	case errors.As(err, &compileErr):
		m.builds.WithLabelValues("compile_error").Inc()
	case errors.As(err, &moduleErr):
		m.builds.WithLabelValues("module_error").Inc()
	case err != nil:
		m.builds.WithLabelValues("failed").Inc()
	case bin.BuildTime == 0:
		m.builds.WithLabelValues("cached").Inc()
	default:
		m.builds.WithLabelValues("built").Inc()
		m.buildTime.Observe(bin.BuildTime.Seconds())
	}
}

func (m *nativeMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.builds, m.buildTime}
}

// scrapeTimeout bounds what one scrape asks the store and the worker pools.
const scrapeTimeout = 5 * time.Second

// dispatchCollector reports the top-level dispatches by status, counted in the store at each scrape.
type dispatchCollector struct{ store *results.Manager }

var dispatchesDesc = prometheus.NewDesc("govalent_dispatches", "Top-level dispatches in the store, by status.", []string{"status"}, nil)

func (c dispatchCollector) Describe(ch chan<- *prometheus.Desc) { ch <- dispatchesDesc }

func (c dispatchCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.store.CountByStatus(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(dispatchesDesc, err)
		return
	}
	for _, s := range []ct.Status{ct.StatusNew, ct.StatusRunning, ct.StatusCompleted, ct.StatusFailed, ct.StatusCancelled} {
		ch <- prometheus.MustNewConstMetric(dispatchesDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
		delete(counts, s)
	}
	for s, n := range counts { // none today; a status added later still shows
		ch <- prometheus.MustNewConstMetric(dispatchesDesc, prometheus.GaugeValue, float64(n), string(s))
	}
}

// executorCollector reports each executor's load (executors.Stats) and, for worker pools, their queue depths
// and leased tasks (executors.RemoteWorkers), read at each scrape.
type executorCollector struct{ execs map[string]executors.Executor }

var (
	workersDesc   = prometheus.NewDesc("govalent_executor_workers", "Workers of an executor.", []string{"executor"}, nil)
	busyDesc      = prometheus.NewDesc("govalent_executor_busy", "Tasks an executor is running.", []string{"executor"}, nil)
	queuedDesc    = prometheus.NewDesc("govalent_executor_queued", "Tasks waiting in an executor for a worker.", []string{"executor"}, nil)
	depthDesc     = prometheus.NewDesc("govalent_pool_queue_depth", "Tasks waiting in a worker pool's queue (Redis).", []string{"executor", "queue"}, nil)
	leasedDesc    = prometheus.NewDesc("govalent_pool_leased_tasks", "Tasks a worker pool's workers hold leases on (Redis).", []string{"executor"}, nil)
	recoveredDesc = prometheus.NewDesc("govalent_pool_lease_recoveries_total", "Queued entries requeued because the lease of the worker holding them expired (Redis).", []string{"executor"}, nil)
)

func (c executorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{workersDesc, busyDesc, queuedDesc, depthDesc, leasedDesc, recoveredDesc} {
		ch <- d
	}
}

func (c executorCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for name, ex := range c.execs {
		st := ex.Stats()
		gauge(workersDesc, float64(st.Workers), name)
		gauge(busyDesc, float64(st.Busy), name)
		gauge(queuedDesc, float64(st.Queued), name)
		p, ok := ex.(executors.RemoteWorkers)
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(recoveredDesc, prometheus.CounterValue, float64(st.Recovered), name)
		queues, leased, err := p.Depths(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(depthDesc, err)
			continue
		}
		for q, n := range queues {
			gauge(depthDesc, float64(n), name, q)
		}
		gauge(leasedDesc, float64(leased), name)
	}
}

// metricsHandler serves the dispatcher's metrics in Prometheus' text format, from a registry of its own (a
// process may run several dispatchers: tests do). A part that cannot be read (the store, Redis) is left out
// of the scrape and logged; the rest is served.
func (d *Dispatcher) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		d.store.CommitLatency(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "govalent_event_subscribers", Help: "Open event streams (/api/v1/events)."},
			func() float64 { return float64(d.engine.hub.subscribers()) }),
		dispatchCollector{d.store},
		executorCollector{d.executors},
	)
	reg.MustRegister(d.engine.tasks.collectors()...)
	reg.MustRegister(d.engine.nativeMetrics.collectors()...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(d.cfg.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
