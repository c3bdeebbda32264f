package dispatcher_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/internal/testkit/awsfake"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// awsEnv is a dispatcher whose awsbatch executor talks to a fake of the Batch API (jobs run the real govalent
// binary as local processes) and keeps task files in a real S3-protocol server; both are on loopback.
type awsEnv struct {
	*env
	t     *testing.T
	s3    *s3test.Server
	batch *awsfake.Batch
	cfg   dispatcher.Config
	// settings are the [executors.NAME] tables of every dispatcher start
	settings map[string]map[string]any
	stop     func() // stops the dispatcher early
}

func newAWSEnv(t *testing.T, cfg dispatcher.Config, settings map[string]map[string]any) *awsEnv {
	t.Helper()
	s3 := s3test.Start(t, "team")
	fake := awsfake.StartBatch(t, map[string]string{"govalent": workerBinary, "sh": "/bin/sh"}, "jobs")
	t.Setenv("AWS_ENDPOINT_URL_BATCH", fake.URL)
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir() // kept across restarts of the dispatcher
	}
	if settings == nil {
		settings = map[string]map[string]any{}
	}
	settings["awsbatch"] = map[string]any{
		"s3": "s3://team/govalent", "job_queue": "jobs", "image": "example/govalent:latest",
		"poll": "20ms", "max_poll": "200ms", "vcpu": 1,
	}
	e := &awsEnv{t: t, s3: s3, batch: fake, cfg: cfg, settings: settings}
	e.env, e.stop = e.start()
	return e
}

// start runs a dispatcher on e.cfg and fresh executors with a fresh interpreter session, stopped when the test
// ends or by stop.
func (e *awsEnv) start() (*env, func()) {
	cfg := e.cfg
	cfg.Executors = testExecutors(e.t, e.settings)
	return startEnv(e.t, cfg)
}

func TestAWSBatchWorkflow(t *testing.T) {
	e := newAWSEnv(t, dispatcher.Config{}, nil)
	e.cell(`
import (
	"errors"
	"fmt"
	"os"
	"strings"
)

func Shout(s string) string { return strings.ToUpper(s) + "!" }
func Where() string { fmt.Println("job", os.Getenv("AWS_BATCH_JOB_ID") != ""); return "batch" }
func Fail(s string) (string, error) { return "", errors.New("no good: " + s) }

var shout = ct.Electron(Shout, ct.Executor("awsbatch"), ct.With("vcpu", 2), ct.With("memory", 1024))
var where = ct.Electron(Where, ct.Executor("awsbatch"))
var fail = ct.Electron(Fail, ct.Executor("awsbatch"))
var join = ct.Electron(func(a, b string) string { return a + " " + b })

var flow = ct.Lattice(func(s string) ct.Future { return join(shout(s), where()) })
res, err := ct.DispatchSync(flow, "hello")
bad, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return fail("input") }))
`)
	res := e.result("res")
	if res.Status != ct.StatusCompleted || res.Result != "HELLO! batch" {
		t.Fatalf("%s %v: %s", res.Status, res.Result, res.Error)
	}
	if n := res.Nodes[1]; n.Executor != "awsbatch" || !strings.Contains(n.Stdout, "job true") {
		t.Fatalf("the Batch node: executor %q, stdout %q", n.Executor, n.Stdout)
	}
	jobs := e.batch.Jobs()
	if len(jobs) != 3 {
		t.Fatalf("%d Batch jobs, want 3", len(jobs))
	}
	for _, j := range jobs {
		if j.Status != "SUCCEEDED" || !strings.Contains(strings.Join(j.Command, " "), "worker --once --task s3://team/govalent/tasks/") {
			t.Fatalf("job %+v", j)
		}
	}
	bad := e.result("bad")
	if bad.Status != ct.StatusFailed || !strings.Contains(bad.Nodes[0].Error, "no good: input") {
		t.Fatalf("failing electron: %s %q", bad.Status, bad.Nodes[0].Error)
	}
}

// What Batch reports goes on the node: a job that died without an outcome, a queue that does not exist, a
// misspelt setting.
func TestAWSBatchFailuresAreNodeErrors(t *testing.T) {
	e := newAWSEnv(t, dispatcher.Config{}, nil)
	e.cell(`
import "time"
func One() int { return 1 }
// the container's command exits before the worker starts, as a broken image would
var die = ct.Electron(One, ct.Executor("awsbatch"), ct.With("command", []string{"sh", "-c", "exit 3"}))
var wrongQueue = ct.Electron(One, ct.Executor("awsbatch"), ct.With("job_queue", "nope"))
var typo = ct.Electron(One, ct.Executor("awsbatch"), ct.With("vcpus", 4))
var slow = ct.Electron(func() int { time.Sleep(time.Minute); return 1 }, ct.Executor("awsbatch"), ct.TimeLimit(time.Second))
died, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return die() }))
queue, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return wrongQueue() }))
misspelt, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return typo() }))
overtime, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return slow() }))
`)
	for name, want := range map[string][]string{
		"died":     {"Batch job", "failed", "Essential container in task exited", "exit code 3"},
		"queue":    {"JobQueue nope not found"},
		"misspelt": {"unknown field", "vcpus"},
		"overtime": {"time limit of 1s exceeded"},
	} {
		r := e.result(name)
		for _, w := range want {
			if r.Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, w) {
				t.Fatalf("%s: %s, node error %q should contain %q", name, r.Status, r.Nodes[0].Error, w)
			}
		}
	}
	wait.For(t, "the job over its time limit to be terminated", 10*time.Second, func() bool {
		for _, j := range e.batch.Jobs() {
			if j.Status == "FAILED" && j.Reason == "govalent: time limit" {
				return true
			}
		}
		return false
	})
}

// dispatchNap dispatches one electron on awsbatch that sleeps for a minute.
func (e *awsEnv) dispatchNap() string {
	e.cell(`
import "time"
func Nap() int { time.Sleep(time.Minute); return 1 }
var nap = ct.Electron(Nap, ct.Executor("awsbatch"))
id, err := ct.Dispatch(ct.Lattice(func() ct.Future { return nap() }))
`)
	return e.value("id").(string)
}

func TestAWSBatchCancelTerminatesTheJob(t *testing.T) {
	e := newAWSEnv(t, dispatcher.Config{}, nil)
	id := e.dispatchNap()
	wait.For(t, "the Batch job to run", 30*time.Second, func() bool {
		r, _ := e.client().GetResult(id, false)
		jobs := e.batch.Jobs()
		return len(r.Nodes) == 1 && r.Nodes[0].Status == ct.StatusRunning && len(jobs) == 1 && jobs[0].Status == "RUNNING"
	})
	if err := e.client().Cancel(id); err != nil {
		t.Fatal(err)
	}
	r, err := e.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusCancelled || r.Nodes[0].Status != ct.StatusCancelled {
		t.Fatalf("%v: %+v", err, r)
	}
	wait.For(t, "the job to be terminated", 10*time.Second, func() bool {
		j := e.batch.Jobs()[0]
		return j.Status == "FAILED" && strings.Contains(j.Reason, "cancelled")
	})
}

// When Batch stops answering, the node fails after a bounded number of status checks instead of waiting forever.
func TestAWSBatchOutageFailsTheNode(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "1") // each status check fails at once instead of after the SDK's own retries
	e := newAWSEnv(t, dispatcher.Config{}, nil)
	id := e.dispatchNap()
	wait.For(t, "the Batch job to run", 30*time.Second, func() bool {
		jobs := e.batch.Jobs()
		return len(jobs) == 1 && jobs[0].Status == "RUNNING"
	})
	e.batch.Stop()
	r, err := e.client().GetResult(id, true)
	if err != nil || r.Status != ct.StatusFailed || !strings.Contains(r.Nodes[0].Error, "lost track of the job after 10 failed status checks") {
		t.Fatalf("%v: %s %q", err, r.Status, r.Nodes[0].Error)
	}
}

// A Batch job runs the electron from the program's native binary, which the executor put in S3 once and the
// job fetched into its machine's cache, checked against its hash.
func TestAWSBatchRunsTheNativeBinaryFromS3(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("GOVALENT_NATIVE_CACHE", cache) // the jobs' environment is the test's
	e := newAWSEnv(t, dispatcher.Config{}, nil)
	e.cell(`
import "os"
func Where() string { return os.Args[0] }
var where = ct.Electron(Where, ct.Executor("awsbatch"))
var flow = ct.Lattice(func() []ct.Future { return []ct.Future{where(), where()} })
res, err := ct.DispatchSync(flow)
`)
	res := e.result("res")
	if res.Status != ct.StatusCompleted {
		t.Fatalf("%s: %s", res.Status, res.Error)
	}
	fetched, _ := filepath.Glob(filepath.Join(cache, "*"))
	if !native() {
		if len(fetched) != 0 || res.Nodes[0].Output == filepath.Join(cache, "x") {
			t.Fatalf("interpreted, nothing is fetched: %v", fetched)
		}
		return
	}
	if len(fetched) != 1 || res.Nodes[0].Output != fetched[0] || res.Nodes[1].Output != fetched[0] {
		t.Fatalf("want both electrons run from the one fetched binary %v, ran at %v and %v", fetched, res.Nodes[0].Output, res.Nodes[1].Output)
	}
	list, err := e.s3.Backend.ListBucket("team", &gofakes3.Prefix{Prefix: "govalent/native/", HasPrefix: true}, gofakes3.ListBucketPage{})
	if err != nil || len(list.Contents) != 1 || list.Contents[0].Key != "govalent/native/"+filepath.Base(fetched[0]) {
		t.Fatalf("S3 native binaries: %+v %v", list, err)
	}
}
