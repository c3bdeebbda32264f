//go:build ignore

// Slurm fan-out benchmark: N trivial electrons Inc(i) on the slurm executor against a real one-node cluster
// (slurmtest: slurmctld, slurmd and munged on loopback), submitted as job arrays (the default) and as one sbatch
// per task (array_window 0), each mode on a fresh cluster. It times from the first Submit until the controller
// holds a job for every task (all_submitted_s) and until every outcome is in (wall_s), checks the outputs,
// counts the sbatch calls (the batches written to the shared directory) and reads the CPU time slurmctld and
// slurmd used.
//
// Run as root with slurm-wlm and munge installed:
//
//	go run bench/slurm_fanout.go
//
// N (default 1000) and SINGLE_N (the per-task mode's count, default N) set the sizes; CPUS (default 16) is what
// the node offers, more than this machine's cores, so that jobs start as fast as Slurm launches them.
// Prints one line per mode.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/slurm"
	"github.com/govalent/govalent/internal/testkit/slurmtest"
)

const program = "package main\n\nfunc Inc(i int) int { return i + 1 }\n"

func main() {
	n, single, cpus := envInt("N", 1000), envInt("SINGLE_N", 0), envInt("CPUS", 16)
	if single == 0 {
		single = n
	}
	tmp, err := os.MkdirTemp("", "slurm-bench-")
	check(err)
	defer os.RemoveAll(tmp)
	runner, err := slurmtest.BuildRunner(tmp)
	check(err)
	for _, m := range []struct {
		name   string
		window string
		n      int
	}{{"arrays", "50ms", n}, {"sbatch-per-task", "0", single}} {
		run(m.name, m.window, m.n, cpus, runner, tmp)
	}
}

func run(mode, window string, n, cpus int, runner, tmp string) {
	dir := filepath.Join(tmp, mode)
	e, err := slurm.New("slurm", map[string]any{"dir": dir, "runner": runner, "array_window": window, "poll": "100ms", "max_poll": "1s"},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	check(err)
	c, err := slurmtest.Start(slurmtest.Options{CPUs: cpus})
	check(err)
	os.Setenv("SLURM_CONF", c.Conf)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sum, failed := 0, ""
	start := time.Now()
	// submitted: when the controller holds a job for every task (counted with squeue every 100 ms).
	submitted := make(chan time.Duration, 1)
	go func() {
		for {
			out, err := c.Run("squeue", "-h", "-r", "-t", "all", "-o", "%i")
			if err == nil && strings.Count(out, "\n") >= n {
				submitted <- time.Since(start)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for i := range n {
		wg.Add(1)
		t := &executors.Task{ID: fmt.Sprintf("bench/%d/1", i), DispatchID: "bench", NodeID: i, Kind: executors.KindElectron,
			Entry: "Inc", ProgramHash: "inc", Program: program, Args: [][]byte{[]byte(strconv.Itoa(i))}}
		e.Submit(t, func(oc executors.Outcome) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			js, err := codec.ToJSON(oc.Output)
			v, _ := strconv.Atoi(string(js))
			if oc.Error != "" || err != nil {
				failed = fmt.Sprintf("task %d: %q %s", i, oc.Output, oc.Error)
			}
			sum += v
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var accepted time.Duration
	select {
	case accepted = <-submitted:
	case <-time.After(30 * time.Second):
		panic(mode + ": squeue never listed a job for every task")
	}
	e.Close()
	c.Stop()
	if failed != "" || sum != n*(n+1)/2 {
		panic(fmt.Sprintf("%s: sum %d, want %d; %s", mode, sum, n*(n+1)/2, failed))
	}
	batches, _ := filepath.Glob(filepath.Join(dir, "batches", "*", "job"))
	fmt.Printf("slurm mode=%s tasks=%d node_cpus=%d sbatch_calls=%d all_submitted_s=%.2f wall_s=%.2f tasks_per_s=%.1f per_task_ms=%.1f slurmctld_cpu_s=%.2f slurmd_cpu_s=%.2f\n",
		mode, n, cpus, len(batches), accepted.Seconds(), elapsed.Seconds(), float64(n)/elapsed.Seconds(), elapsed.Seconds()*1000/float64(n),
		c.CPU["slurmctld"].Seconds(), c.CPU["slurmd"].Seconds())
}

func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		panic(fmt.Sprintf("%s=%q: want a whole number", name, v))
	}
	return n
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
