package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
)

// Issue 11, items 6-9: a few rounds of a 2,000-node workflow on the Redis pool while workers are killed and
// paused past their leases, the dispatcher is killed, and Redis restarts with its data and without it. Each
// node body appends "node start-time" to a side file before it computes. Every round must end COMPLETED with
// the right sum, every node must have run, and no body may start after its node's accepted run ended (a bound
// below the time the node became COMPLETED). GOVALENT_CHAOS_SEED replays a run.
func TestRedisPoolChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GOVALENT_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (GOVALENT_CHAOS_SEED=%d replays the same faults)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	r := newRedisSetup(t, 3)
	kinds := []string{"kill a worker", "pause a worker past its lease", "kill the dispatcher", "restart Redis (AOF)", "restart Redis empty"}
	var plan []string // every kind twice, in random order, then two more
	for range 2 {
		rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
		plan = append(plan, kinds...)
	}
	plan = append(plan, kinds[rng.IntN(len(kinds))], kinds[rng.IntN(len(kinds))])
	rounds := [][]string{plan[0:3], plan[3:6], plan[6:9], plan[9:12]}
	const n = 2000
	for round, faults := range rounds {
		start := time.Now()
		id, runs := r.dispatchChaos(t, round, n)
		for _, f := range faults {
			time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
			t.Logf("round %d, %5dms: %s", round, time.Since(start).Milliseconds(), f)
			r.fault(t, f, rng)
		}
		res := r.waitFinished(t, id, 90*time.Second)
		want := 10 * n * (n - 1) / 2
		if res.Status != ct.StatusCompleted || res.Result != want {
			t.Fatalf("round %d: %s, result %v (want %d): %s", round, res.Status, res.Result, want, res.Error)
		}
		starts := bodyStarts(t, runs)
		again, late := 0, 0
		for i := 0; i < n; i++ {
			node := res.Node(i)
			if len(starts[i]) == 0 || node == nil || node.EndTime == nil {
				t.Fatalf("round %d: node %d never ran (%d starts) or has no end", round, i, len(starts[i]))
			}
			if len(starts[i]) > 1 {
				again++
			}
			for _, s := range starts[i] {
				if s.After(*node.EndTime) {
					if late++; late <= 10 {
						t.Errorf("round %d: node %d started at %s, after its accepted run ended at %s", round, i, s.Format(time.StampMicro), node.EndTime.Format(time.StampMicro))
					}
				}
			}
		}
		t.Logf("round %d: COMPLETED in %s, sum %v; %d nodes ran more than once (their run was cut by a fault), %d started after their node was done",
			round, time.Since(start).Round(time.Millisecond), res.Result, again, late)
	}
}

// dispatchChaos dispatches n nodes, three quick ones (chunked, prefetched) to one slow one (20 ms), summed.
func (r *redisSetup) dispatchChaos(t *testing.T, round, n int) (string, string) {
	t.Helper()
	runs := filepath.Join(r.dir, fmt.Sprintf("runs%d", round))
	return r.dispatchCell(t, `
import ("fmt"; "os"; "time")
func mark(i int) {
	f, _ := os.OpenFile("`+runs+`", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	fmt.Fprintf(f, "%d %d\n", i, time.Now().UnixNano())
	f.Close()
}
func Quick(i int) int { mark(i); return i * 10 }
func Slow(i int) int { mark(i); time.Sleep(20 * time.Millisecond); return i * 10 }
func Total(xs []int) int { t := 0; for _, x := range xs { t += x }; return t }
var quick, slow, total = ct.Electron(Quick), ct.Electron(Slow), ct.Electron(Total)
var chaos = ct.Lattice(func(n int) ct.Future {
	var parts []ct.Future
	for i := 0; i < n; i++ {
		if i%4 == 3 { parts = append(parts, slow(i)) } else { parts = append(parts, quick(i)) }
	}
	return total(parts)
})
id, err := ct.Dispatch(chaos, `+strconv.Itoa(n)+`)
if err != nil { panic(err) }`), runs
}

func (r *redisSetup) fault(t *testing.T, kind string, rng *rand.Rand) {
	t.Helper()
	switch kind {
	case "kill a worker":
		i := rng.IntN(len(r.workers))
		r.workers[i].Process.Signal(syscall.SIGKILL)
		r.workers[i].Wait()
		r.workers[i] = startWorker(t, r.redisURL, r.dir)
	case "pause a worker past its lease":
		w := r.workers[rng.IntN(len(r.workers))]
		syscall.Kill(w.Process.Pid, syscall.SIGSTOP)
		time.Sleep(2500 * time.Millisecond) // lease 1 s: its tasks are recovered and run elsewhere meanwhile
		syscall.Kill(w.Process.Pid, syscall.SIGCONT)
	case "kill the dispatcher":
		r.dispatcher.Process.Signal(syscall.SIGKILL)
		r.dispatcher.Wait()
		r.startDispatcher(t)
	case "restart Redis (AOF)":
		r.redis.restart(t, 300*time.Millisecond)
	case "restart Redis empty":
		r.redis.cmd.Process.Kill()
		r.redis.cmd.Wait()
		os.RemoveAll(r.redis.dir) // as a Redis without persistence comes back: empty
		os.MkdirAll(r.redis.dir, 0o755)
		r.redis.start(t)
	default:
		t.Fatalf("unknown fault %q", kind)
	}
}

// waitFinished polls the dispatch (riding out dispatcher restarts) until it is finished.
func (r *redisSetup) waitFinished(t *testing.T, id string, limit time.Duration) *ct.Result {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := r.client.GetResultContext(ctx, id, false)
		cancel()
		if err == nil && res.Status.Finished() {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("dispatch %s not finished after %s: %v %v", id, limit, res, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// bodyStarts reads the side file: node -> the times its body started.
func bodyStarts(t *testing.T, runs string) map[int][]time.Time {
	t.Helper()
	starts := map[int][]time.Time{}
	for _, line := range strings.Split(strings.TrimSpace(readFile(runs)), "\n") {
		var node int
		var ns int64
		if _, err := fmt.Sscan(line, &node, &ns); err != nil {
			t.Fatalf("side file line %q: %v", line, err)
		}
		starts[node] = append(starts[node], time.Unix(0, ns))
	}
	return starts
}
