package slurm_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/executors/slurm"
	"github.com/govalent/govalent/internal/testkit/slurmtest"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// restSettings are the settings that reach the test cluster through its slurmrestd, with the Slurm commands
// made to fail on this machine for the rest of the test: nothing may run sbatch, squeue or scancel.
func restSettings(t *testing.T) map[string]any {
	t.Helper()
	url, token, err := cluster.REST()
	if err != nil {
		t.Fatal(err)
	}
	slurmtest.NoLocalCommands(t)
	return map[string]any{"rest": url, "token": token}
}

// submissions counts the jobs (an array is one) the controller holds, ended ones too.
func submissions(t *testing.T) int {
	t.Helper()
	out, err := cluster.Run("squeue", "-h", "-t", "all", "-o", "%F")
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(out)
	slices.Sort(ids)
	return len(slices.Compact(ids))
}

func TestRESTConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T) executors.Executor { return newExecutor(t, restSettings(t)) },
		executortest.Options{Capacity: 2, Wait: time.Minute})
}

// A fan-out through slurmrestd is one job array too.
func TestRESTFanOutIsOneArray(t *testing.T) {
	dir := t.TempDir()
	settings := restSettings(t)
	settings["dir"], settings["array_window"] = dir, "250ms"
	fanOutOfTwelve(t, newExecutor(t, settings), dir)
}

// A cancel through slurmrestd ends the job; the job options reach it (the time limit).
func TestRESTCancel(t *testing.T) {
	e := newExecutor(t, restSettings(t))
	started := filepath.Join(t.TempDir(), "started")
	tk := task(t, 1, "Hold", started, 10*60*1000)
	tk.TimeLimit = 90 * time.Second
	ch := submit(e.Submit, tk)
	wait.For(t, "the job to start", time.Minute, func() bool { _, err := os.Stat(started); return err == nil })
	q, err := cluster.Queue()
	if err != nil || len(q) != 1 {
		t.Fatalf("queue %v, %v", q, err)
	}
	id, _, _ := strings.Cut(q[0], "=")
	if job, err := cluster.Job(id); err != nil || job["TimeLimit"] != "00:02:00" {
		t.Fatalf("the job's time limit: %q (%v), want 00:02:00", job["TimeLimit"], err)
	}
	e.Cancel(tk.ID)
	if oc := outcome(t, ch); !oc.Cancelled {
		t.Fatalf("%+v", oc)
	}
	wait.For(t, "the cancel to end the job", 30*time.Second, func() bool { q, err := cluster.Queue(); return err == nil && len(q) == 0 })
	if job, err := cluster.Job(id); err != nil || job["JobState"] != "CANCELLED" {
		t.Fatalf("the job's state: %q (%v), want CANCELLED", job["JobState"], err)
	}
}

// Adopting after a restart finds jobs through slurmrestd, by name when the job id was not written down.
func TestRESTAdoptAfterRestart(t *testing.T) {
	testAdoptAfterRestart(t, restSettings(t), func() int { return submissions(t) })
}

// The token comes from $SLURM_JWT when the settings have none; a wrong one fails the task saying so.
func TestRESTToken(t *testing.T) {
	settings := restSettings(t)
	t.Setenv("SLURM_JWT", settings["token"].(string))
	delete(settings, "token")
	e := newExecutor(t, settings)
	if oc := outcome(t, submit(e.Submit, task(t, 1, "Echo", "env"))); executortest.Text(oc.Output) != `"env"` {
		t.Fatalf("with $SLURM_JWT: %+v", oc)
	}
	settings["token"] = "not-a-token"
	bad := newExecutor(t, settings)
	oc := outcome(t, submit(bad.Submit, task(t, 2, "Echo", "bad")))
	if oc.Error == "" || !strings.Contains(oc.Error, "token") {
		t.Fatalf("with a wrong token: %+v", oc)
	}
}

// Settings slurmrestd's job description cannot carry are refused, as are malformed addresses.
func TestRESTBadSettings(t *testing.T) {
	for _, s := range []map[string]any{
		{"rest": "127.0.0.1:6820"},
		{"rest": "ftp://host"},
		{"rest": "http://host/path"},
		{"rest": "unix://"},
		{"token": "x"},
		{"rest": "http://127.0.0.1:1", "gpus": "1"},
		{"rest": "http://127.0.0.1:1", "sbatch_options": []string{"--constraint=x"}},
		{"rest": "http://127.0.0.1:1", "time": "1:2:3:4"},
		{"rest": "http://127.0.0.1:1", "memory": "lots"},
	} {
		s["dir"] = t.TempDir()
		if _, err := slurm.New("slurm", s, nil); err == nil {
			t.Errorf("New(%v) took them", s)
		} else {
			t.Logf("%v: %v", s, err)
		}
	}
}

// slurmrestd on a unix socket ("unix:///path"): here a proxy on a socket in the test's directory, in front of
// the test cluster's slurmrestd.
func TestRESTUnixSocket(t *testing.T) {
	settings := restSettings(t)
	target, err := url.Parse(settings["rest"].(string))
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "slurmrestd.socket")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	settings["rest"] = "unix://" + socket
	e := newExecutor(t, settings)
	if oc := outcome(t, submit(e.Submit, task(t, 1, "Echo", "sock"))); executortest.Text(oc.Output) != `"sock"` {
		t.Fatalf("%+v", oc)
	}
	if requests.Load() < 2 {
		t.Fatalf("%d requests on the socket, want a submit and polls", requests.Load())
	}
}

// With a login node too, the files go over SSH and the jobs through slurmrestd: no Slurm command runs on the
// login node either.
func TestRESTWithLoginNode(t *testing.T) {
	login := loginNode(t)
	settings := with(login, restSettings(t))
	e := newExecutor(t, settings)
	var chans []<-chan executors.Outcome
	for i := range 3 {
		chans = append(chans, submit(e.Submit, task(t, i, "Echo", fmt.Sprint("l", i))))
	}
	for i, ch := range chans {
		if oc := outcome(t, ch); executortest.Text(oc.Output) != fmt.Sprintf(`"l%d"`, i) {
			t.Fatalf("task %d: %+v", i, oc)
		}
	}
	for _, name := range []string{"sbatch", "squeue", "scancel"} {
		if calls := login.Calls(name); len(calls) > 0 {
			t.Fatalf("%s ran on the login node: %q", name, calls)
		}
	}
}
