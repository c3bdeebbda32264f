package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/native"
)

const nativeProgram = `package main

import ("fmt"; "os"; "time")

func Inc(i int) int { return i + 1 }
func Hold(ms int) int { time.Sleep(time.Duration(ms) * time.Millisecond); return ms }
func Say(s string) string { fmt.Println(s); fmt.Fprint(os.Stderr, "e" + s); return fmt.Sprint(s, " ", os.Getpid()) }
func Exit(code int) int { fmt.Print("bye"); os.Exit(code); return 0 }
func GoPanic() int { go func() { panic("boom") }(); time.Sleep(time.Minute); return 0 }
`

// nativeTasks builds nativeProgram's native worker binary, as the dispatcher does, and returns a maker of tasks
// that run in it.
func nativeTasks(t testing.TB) func(entry string, args ...string) *executors.Task {
	t.Helper()
	b, err := native.NewBuilder(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := b.Build(context.Background(), nativeProgram, native.Host())
	if err != nil {
		t.Fatal(err)
	}
	return func(entry string, args ...string) *executors.Task {
		tk := task(entry, args...)
		tk.ProgramHash, tk.Program = "n1", nativeProgram
		tk.Binaries = map[string]executors.Binary{executors.Platform: {Hash: bin.Hash, Path: bin.Path}}
		return tk
	}
}

// quick makes the pool take entries of nativeProgram for quick ones, as if they had run quickly before, so that
// it sends their tasks to a process while it runs another.
func quick(p *Pool, entries ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range entries {
		p.quick[executors.RunKey(&executors.Task{ProgramHash: "n1", Entry: e})] = time.Microsecond
	}
}

// submit submits tasks all at once, as Submit does one by one, so that the pool's slot finds them all queued
// and sends the quick ones behind the first; it returns channels of their outcomes.
func submit(p *Pool, tasks ...*executors.Task) []chan executors.Outcome {
	out := make([]chan executors.Outcome, len(tasks))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, tk := range tasks {
		out[i] = make(chan executors.Outcome, 1)
		p.queue = append(p.queue, &job{task: tk, done: func(oc executors.Outcome) { out[i] <- oc }})
	}
	p.cond.Broadcast()
	return out
}

// sayOK checks the outcome of Say(s): its output and exactly its own stdout and stderr; it returns the pid of
// its native process.
func sayOK(t *testing.T, s string, oc executors.Outcome) string {
	t.Helper()
	pid, ok := strings.CutPrefix(strings.Trim(executortest.Text(oc.Output), `"`), s+" ")
	if !ok || oc.Error != "" || oc.Stdout != s+"\n" || oc.Stderr != "e"+s {
		t.Fatalf("Say(%q): %+v", s, oc)
	}
	return pid
}

// Native tasks sent to a worker process together run one after the other in one native process, which they
// reach before the previous ones have answered; yet each gets exactly its own stdout and stderr, and its own
// run time.
func TestNativeStreamOutputPerTask(t *testing.T) {
	newTask := nativeTasks(t)
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	quick(p, "Say")
	tasks := []*executors.Task{newTask("Hold", "100")}
	for i := range 40 {
		tasks = append(tasks, newTask("Say", fmt.Sprintf(`"s%d"`, i)))
	}
	results := submit(p, tasks...)
	inSlot(t, p, len(tasks))
	prev := <-results[0]
	if executortest.Text(prev.Output) != "100" || prev.End.Sub(prev.Start) < 100*time.Millisecond {
		t.Fatalf("Hold: %+v", prev)
	}
	pids := map[string]bool{}
	for i, r := range results[1:] {
		oc := <-r
		pids[sayOK(t, fmt.Sprintf("s%d", i), oc)] = true
		if oc.Start.Before(prev.End) || oc.End.Before(oc.Start) {
			t.Fatalf("task %d ran from %s to %s, the one before it until %s", i+1, oc.Start, oc.End, prev.End)
		}
		prev = oc
	}
	if len(pids) != 1 {
		t.Fatalf("the tasks ran in %d native processes, want one", len(pids))
	}
}

// A task sent on to the native process and cancelled before it starts there does not start, nor does one whose
// start-by time has passed when its turn comes; the tasks around them run.
func TestNativeStreamSkipAndStartBy(t *testing.T) {
	newTask := nativeTasks(t)
	first, running := newTask("Hold", "50"), newTask("Hold", "400")
	a, skipped, late, b := newTask("Say", `"a"`), newTask("Say", `"skipped"`), newTask("Say", `"late"`), newTask("Say", `"b"`)
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand(), StartBy: func(t *executors.Task) time.Time {
		if t.ID == late.ID {
			return time.Now().Add(100 * time.Millisecond) // in time to be sent on, past when it comes to run
		}
		return time.Now().Add(time.Hour)
	}})
	defer p.Close()
	quick(p, "Hold", "Say")
	results := submit(p, first, running, a, skipped, late, b)
	inSlot(t, p, 6)
	<-results[0]
	time.Sleep(100 * time.Millisecond) // the rest are sent on to the native process, where running runs
	p.Cancel(skipped.ID)
	if oc := <-results[1]; executortest.Text(oc.Output) != "400" {
		t.Fatalf("running: %+v", oc)
	}
	sayOK(t, "a", <-results[2])
	if oc := <-results[3]; !oc.Cancelled || oc.Stdout != "" || len(oc.Output) != 0 {
		t.Fatalf("skipped: %+v", oc)
	}
	if oc := <-results[4]; !oc.Unstarted || oc.Stdout != "" || len(oc.Output) != 0 {
		t.Fatalf("late: %+v", oc)
	}
	sayOK(t, "b", <-results[5])
}

// A native process that ends in the middle of the tasks sent to it (an os.Exit, a panic in a goroutine) fails
// only the task it was running, with that task's output; the tasks sent after it run in a new native process.
func TestNativeStreamDeathFailsOnlyItsTask(t *testing.T) {
	newTask := nativeTasks(t)
	p := NewPool(Config{Name: "pool", Size: 1, Reuse: true, Command: workerCommand()})
	defer p.Close()
	quick(p, "Say", "Exit", "GoPanic")
	tasks := []*executors.Task{newTask("Hold", "100"), newTask("Say", `"a"`), newTask("Exit", "3"), newTask("Say", `"b"`),
		newTask("GoPanic"), newTask("Say", `"c"`)}
	results := submit(p, tasks...)
	inSlot(t, p, len(tasks))
	<-results[0]
	pidA := sayOK(t, "a", <-results[1])
	if oc := <-results[2]; oc.ErrorKind != executors.ErrorCrash || oc.Stdout != "bye" ||
		!strings.Contains(oc.Error, "the electron's native process exited with status 3") {
		t.Fatalf("exit: %+v", oc)
	}
	pidB := sayOK(t, "b", <-results[3])
	if oc := <-results[4]; oc.ErrorKind != executors.ErrorUser || oc.Error != "panic in a goroutine of the electron: boom" ||
		!strings.Contains(oc.Stderr, "panic: boom") {
		t.Fatalf("goroutine panic: %+v", oc)
	}
	pidC := sayOK(t, "c", <-results[5])
	if pidA == pidB || pidB == pidC {
		t.Fatalf("the tasks after a death ran in native processes %s, %s, %s; want a new one after each", pidA, pidB, pidC)
	}
	if st := p.Stats(); st.Done != int64(len(tasks)) || st.Busy != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkPoolFanout runs b.N tiny tasks (Inc) on a pool of 2 reused processes, as the fan-out benchmark
// (bench/fanout.go) does, natively and interpreted. Beside the time per task it reports the CPU time per task of
// the worker processes and of their native workers (from /proc, in clock ticks: use a large b.N).
func BenchmarkPoolFanout(b *testing.B) {
	newNative := nativeTasks(b)
	newInterpreted := func(entry string, args ...string) *executors.Task {
		tk := newNative(entry, args...)
		tk.Binaries = nil
		return tk
	}
	for _, tier := range []struct {
		name    string
		newTask func(entry string, args ...string) *executors.Task
	}{{"native", newNative}, {"interpreted", newInterpreted}} {
		b.Run(tier.name, func(b *testing.B) {
			p := NewPool(Config{Name: "pool", Size: 2, Reuse: true, Command: workerCommand()})
			defer p.Close()
			run(p, tier.newTask("Inc", "0"), tier.newTask("Inc", "0")) // start the processes; learn that Inc is quick
			tasks := make([]*executors.Task, b.N)
			for i := range tasks {
				tasks[i] = tier.newTask("Inc", strconv.Itoa(i))
			}
			cpu0 := poolCPU(b, p)
			b.ResetTimer()
			for i, oc := range run(p, tasks...) {
				if want := strconv.Itoa(i + 1); executortest.Text(oc.Output) != want {
					b.Fatalf("Inc(%d): %+v", i, oc)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(poolCPU(b, p)-cpu0)/float64(b.N)*1e6, "cpu-us/op")
		})
	}
}

// poolCPU is the CPU time, in seconds, that p's worker processes and their children have used so far.
func poolCPU(b *testing.B, p *Pool) float64 {
	var ticks int64
	var add func(pid string)
	add = func(pid string) {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:])) // fields from the 3rd on
		for _, k := range []int{11, 12} {                                              // utime, stime
			n, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += n
		}
		threads, _ := filepath.Glob("/proc/" + pid + "/task/*/children") // children are listed by the thread that started them
		for _, th := range threads {
			children, _ := os.ReadFile(th)
			for _, c := range strings.Fields(string(children)) {
				add(c)
			}
		}
	}
	for _, s := range p.slots {
		add(strconv.Itoa(s.proc.cmd.Process.Pid))
	}
	return float64(ticks) / 100 // USER_HZ
}
