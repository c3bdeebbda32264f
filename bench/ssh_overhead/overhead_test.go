// Package ssh_overhead measures what running a task over SSH costs: trivial electrons on the ssh executor,
// against a real sshd on loopback, and on the embedded pool (worker processes on this machine).
//
//	go test -run '^$' -bench . -benchtime 3x ./bench/ssh_overhead
//
// Each executor runs TASKS (default 200) trivial tasks submitted at once ("fanout", per task: the wall time over
// TASKS) and 20 tasks one after another ("serial", per task: the round trip of one). One line each:
// ssh_overhead executor=NAME mode=MODE tasks=N concurrency=C per_task_ms=X
package ssh_overhead

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/executors/process"
	sshexec "github.com/govalent/govalent/executors/ssh"
	"github.com/govalent/govalent/internal/testkit/sshtest"
)

// concurrency is the tasks each executor runs at once: the pool's processes, the ssh executor's sessions.
const concurrency = 4

func BenchmarkSSHOverhead(b *testing.B) {
	tasks := 200
	if v := os.Getenv("TASKS"); v != "" {
		var err error
		if tasks, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	bin := filepath.Join(b.TempDir(), "govalent")
	build := exec.Command("go", "build", "-o", bin, "github.com/govalent/govalent/cmd/govalent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal(err)
	}
	srv := sshtest.Start(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	remoteDir := b.TempDir()
	for _, c := range []struct {
		name string
		make func() executors.Executor
	}{
		{"pool", func() executors.Executor {
			return process.NewPool(process.Config{Name: "pool", Size: concurrency, Reuse: true, Command: []string{bin, "worker", "--pipe"}, Logger: log})
		}},
		{"ssh", func() executors.Executor {
			ex, err := sshexec.New("ssh", map[string]any{"host": srv.Host, "port": srv.Port, "user": srv.User, "key_file": srv.KeyFile,
				"known_hosts": srv.KnownHosts, "remote_dir": remoteDir, "govalent_binary": bin, "concurrency": concurrency}, log)
			if err != nil {
				b.Fatal(err)
			}
			return ex
		}},
	} {
		for _, mode := range []struct {
			name  string
			tasks int
			batch int // submitted at once
		}{{"fanout", tasks, tasks}, {"serial", 20, 1}} {
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				ex := c.make()
				defer ex.Close()
				runTasks(b, ex, 0, 1, 1) // connects, uploads, starts processes: not timed
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					runTasks(b, ex, i+1, mode.tasks, mode.batch)
				}
				perTask := time.Since(start).Seconds() * 1000 / float64(b.N*mode.tasks)
				b.ReportMetric(perTask, "ms/task")
				fmt.Printf("ssh_overhead executor=%s mode=%s tasks=%d concurrency=%d per_task_ms=%.2f\n", c.name, mode.name, mode.tasks, concurrency, perTask)
			})
		}
	}
}

// runTasks runs n Echo tasks, batch at a time, and checks their outputs.
func runTasks(b *testing.B, ex executors.Executor, round, n, batch int) {
	for first := 0; first < n; first += batch {
		var wg sync.WaitGroup
		for i := first; i < min(first+batch, n); i++ {
			arg, _ := json.Marshal(fmt.Sprint(i))
			t := &executors.Task{ID: fmt.Sprintf("r%d-t%d", round, i), DispatchID: fmt.Sprintf("bench-%d", round), NodeID: i,
				Kind: executors.KindElectron, Entry: "Echo", ProgramHash: executortest.ProgramHash, Program: executortest.Program, Args: [][]byte{arg}}
			wg.Add(1)
			ex.Submit(t, func(oc executors.Outcome) {
				defer wg.Done()
				if executortest.Text(oc.Output) != string(arg) {
					b.Errorf("task %s: %+v", t.ID, oc)
				}
			})
		}
		wg.Wait()
	}
}
