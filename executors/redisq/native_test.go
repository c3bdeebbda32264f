package redisq

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/native"
)

// fakeBinary writes size random bytes (a stand-in for a native binary: only its bytes travel) and returns its
// path and sha256.
func fakeBinary(t *testing.T, size int) (string, string) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(path, data, 0o700); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, hex.EncodeToString(sum[:])
}

// commandCalls is how many times Redis ran cmd ("strlen"), from INFO commandstats.
func commandCalls(t *testing.T, rdb *redis.Client, cmd string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// A binary is stored in pieces under its hash, once, and read back whole; one that does not have the hash it is
// stored under (changed in Redis) is refused, and one Redis does not hold is ErrNoBinary.
func TestBinaryStoredOnceAndChecked(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{BinaryTTL: time.Minute})
	path, hash := fakeBinary(t, 2*binaryPiece+123)
	if err := q.PutBinary(ctx, hash, path); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := q.Binary(ctx, hash, &got); err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(path); !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read back %d bytes, stored %d", got.Len(), len(want))
	}
	if ttl := rdb.PTTL(ctx, q.key("bin", hash)).Val(); ttl < 50*time.Second || ttl > time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
	if keys := rdb.Keys(ctx, q.key("binup", "*")).Val(); len(keys) != 0 {
		t.Fatalf("uploads left behind: %v", keys)
	}
	// Stored already: only its expiry is refreshed, nothing is sent again.
	rdb.Set(ctx, q.key("bin", hash), "tampered", time.Second)
	if err := q.PutBinary(ctx, hash, path); err != nil {
		t.Fatal(err)
	}
	if v := rdb.Get(ctx, q.key("bin", hash)).Val(); v != "tampered" {
		t.Fatal("stored again")
	}
	if ttl := rdb.PTTL(ctx, q.key("bin", hash)).Val(); ttl < 50*time.Second {
		t.Fatalf("expiry not refreshed: %v", ttl)
	}
	err := q.Binary(ctx, hash, io.Discard)
	if err == nil || errors.Is(err, ErrNoBinary) || !strings.Contains(err.Error(), "corrupted in Redis") || q.Refused() != 1 {
		t.Fatalf("a changed binary: %v (refused %d)", err, q.Refused())
	}
	// It was deleted, so that the dispatcher stores it again with its next task.
	if err := q.Binary(ctx, hash, io.Discard); !errors.Is(err, ErrNoBinary) {
		t.Fatalf("a missing binary: %v", err)
	}
	// A file that is not what its hash says is not stored.
	other, _ := fakeBinary(t, 10)
	var fileErr *BinaryFileError
	if err := q.PutBinary(ctx, hash, other); !errors.As(err, &fileErr) || rdb.Exists(ctx, q.key("bin", hash)).Val() != 0 {
		t.Fatalf("a file with another hash: %v", err)
	}
	if err := q.PutBinary(ctx, hash, filepath.Join(t.TempDir(), "none")); !errors.As(err, &fileErr) {
		t.Fatalf("a missing file: %v", err)
	}
	if keys := rdb.Keys(ctx, q.key("binup", "*")).Val(); len(keys) != 0 {
		t.Fatalf("uploads left behind: %v", keys)
	}
}

// The pool stores a task's binary before it queues the task, once: later tasks cost Redis nothing more, and
// Enqueue keeps it from expiring; if Redis loses it, it is stored again. A binary that cannot be read on the
// dispatcher's machine is left out of the tasks, which run interpreted.
func TestPoolStoresEachBinaryOnce(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{BinaryTTL: time.Minute})
	path, hash := fakeBinary(t, 1000)
	content, _ := os.ReadFile(path)
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	binaries := map[string]executors.Binary{"linux/arm64": {Hash: hash, Path: path}}
	nativeTask := func(id string) *executors.Task {
		tk := chunkTask(id, "Inc", "1")
		tk.Binaries = binaries
		return tk
	}
	queuedTask := func(id string) executors.Task {
		t.Helper()
		var l []Lease
		wait.For(t, id+" queued", 10*time.Second, func() bool {
			l, _ = q.Dequeue(ctx, "w", nil, 1)
			return len(l) == 1
		})
		if l[0].Task.ID != id {
			t.Fatalf("dequeued %s, want %s", l[0].Task.ID, id)
		}
		return l[0].Task
	}
	submit(e, nativeTask("a"))
	if tk := queuedTask("a"); tk.Binaries["linux/arm64"].Hash != hash {
		t.Fatalf("binaries %+v", tk.Binaries)
	}
	if v := rdb.Get(ctx, q.key("bin", hash)).Val(); v != string(content) {
		t.Fatalf("stored %d bytes, want %d", len(v), len(content))
	}
	rdb.Set(ctx, q.key("bin", hash), "marker", time.Second)
	submit(e, nativeTask("b"))
	queuedTask("b")
	if v := rdb.Get(ctx, q.key("bin", hash)).Val(); v != "marker" {
		t.Fatal("stored again for the second task")
	}
	if ttl := rdb.PTTL(ctx, q.key("bin", hash)).Val(); ttl < 50*time.Second {
		t.Fatalf("expiry not refreshed when a task naming it was queued: %v", ttl)
	}
	rdb.Del(ctx, q.key("bin", hash)) // lost, as with Redis's data
	submit(e, nativeTask("c"))
	queuedTask("c")
	if v := rdb.Get(ctx, q.key("bin", hash)).Val(); v != string(content) {
		t.Fatal("a lost binary was not stored again")
	}

	gone := nativeTask("d")
	gone.Binaries = map[string]executors.Binary{"linux/arm64": {Hash: strings.Repeat("0", 64), Path: filepath.Join(t.TempDir(), "deleted")}}
	submit(e, gone)
	if tk := queuedTask("d"); len(tk.Binaries) != 0 {
		t.Fatalf("queued naming a binary that could not be stored: %+v", tk.Binaries)
	}
	if gone.Binaries["linux/arm64"].Hash == "" {
		t.Fatal("the submitted task was changed")
	}
}

// Workers name their platform in their heartbeats, and the pool offers native binaries for the platforms of the
// live workers; with none, for its own.
func TestNativePlatformsAreTheLiveWorkers(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	_, _, q := setup(t, Options{Lease: 300 * time.Millisecond}) // heartbeats live 900 ms
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	if got := e.NativePlatforms(); !slices.Equal(got, []string{executors.Platform}) {
		t.Fatalf("no workers: %v", got)
	}

	w := NewWorker(q, WorkerConfig{ID: "real", Command: []string{workerBinary, "worker", "--pipe"}, BinaryDir: t.TempDir(), Logger: quietLog()})
	go w.Run(ctx)
	var ws []WorkerInfo
	wait.For(t, "the worker's heartbeat", 10*time.Second, func() bool {
		ws, _ = q.Workers(ctx)
		return len(ws) == 1
	})
	if ws[0].Platform != executors.Platform {
		t.Fatalf("heartbeat %+v", ws[0])
	}

	// More workers beat until the pool has seen them: one on arm64, one from before the native tier, which
	// names no platform, and a forged one whose platform is not one.
	seen := make(chan struct{})
	go func() {
		for {
			q.Heartbeat(ctx, WorkerInfo{ID: "arm", Concurrency: 1, Platform: "linux/arm64"})
			q.Heartbeat(ctx, WorkerInfo{ID: "old", Concurrency: 1})
			q.Heartbeat(ctx, WorkerInfo{ID: "forged", Concurrency: 1, Platform: "linux/amd64 -toolexec=/tmp/x"})
			select {
			case <-seen:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	want := []string{"linux/arm64", executors.Platform}
	slices.Sort(want)
	want = slices.Compact(want)
	wait.For(t, "the pool to see the arm64 worker", 5*time.Second, func() bool { return slices.Equal(e.NativePlatforms(), want) })
	close(seen)
	// The arm64 worker stopped beating; the real one goes on.
	wait.For(t, "the pool to forget the arm64 worker", 5*time.Second, func() bool {
		return slices.Equal(e.NativePlatforms(), []string{executors.Platform})
	})
	if ps, err := q.Platforms(ctx); err != nil || !slices.Equal(ps, []string{executors.Platform}) {
		t.Fatalf("platforms %v %v", ps, err)
	}
	stop()
	wait.For(t, "no live worker", 5*time.Second, func() bool { ps, _ := q.Platforms(context.Background()); return len(ps) == 0 })
	if got := e.NativePlatforms(); !slices.Equal(got, []string{executors.Platform}) {
		t.Fatalf("no workers again: %v", got)
	}
}

// Concurrent tasks of one binary share one fetch; the file is the binary, executable by its owner only, and a
// worker started later finds it without fetching it again, unless its copy was damaged.
func TestBinaryCacheFetchesOnce(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{})
	path, hash := fakeBinary(t, 3*binaryPiece)
	if err := q.PutBinary(ctx, hash, path); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "native")
	c := newBinaryCache(dir, q, quietLog())
	before := commandCalls(t, rdb, "strlen")
	var wg sync.WaitGroup
	paths := make([]string, 8)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.get(ctx, hash)
			if err != nil {
				t.Error(err)
			}
			paths[i] = p
		}()
	}
	wg.Wait()
	if n := commandCalls(t, rdb, "strlen") - before; n != 1 {
		t.Fatalf("%d fetches for 8 concurrent tasks", n)
	}
	local := filepath.Join(dir, hash)
	for _, p := range paths {
		if p != local {
			t.Fatalf("paths %v", paths)
		}
	}
	if got, _ := native.FileHash(local); got != hash {
		t.Fatal("the cached file is not the binary")
	}
	for _, p := range []string{dir, local} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	if p, ok := c.ready(hash); !ok || p != local {
		t.Fatalf("ready: %q %v", p, ok)
	}

	before = commandCalls(t, rdb, "strlen")
	if p, err := newBinaryCache(dir, q, quietLog()).get(ctx, hash); err != nil || p != local || commandCalls(t, rdb, "strlen") != before {
		t.Fatalf("a later worker fetched it again: %q %v", p, err)
	}
	os.WriteFile(local, []byte("damaged"), 0o700)
	if p, err := newBinaryCache(dir, q, quietLog()).get(ctx, hash); err != nil || commandCalls(t, rdb, "strlen") != before+1 {
		t.Fatalf("a damaged copy was used: %q %v", p, err)
	}
	if got, _ := native.FileHash(local); got != hash {
		t.Fatal("the damaged copy was not replaced")
	}
	// A failed fetch is not remembered: the next task tries again.
	_, missing := fakeBinary(t, 10)
	if _, err := c.get(ctx, missing); !errors.Is(err, ErrNoBinary) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := c.get(ctx, missing); !errors.Is(err, ErrNoBinary) || commandCalls(t, rdb, "strlen") != before+3 {
		t.Fatalf("missing, again: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left in the cache: %v", entries)
	}
}

// A worker fails a task whose binary in Redis is not the one its signed task names, saying so, without running
// it; a task whose binary Redis no longer holds runs interpreted.
func TestWorkerChecksFetchedBinaries(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	_, rdb, q := setup(t, Options{})
	markFile := filepath.Join(t.TempDir(), "marks")
	// The binary the dispatcher built, replaced in Redis by someone without the key.
	_, hash := fakeBinary(t, 100)
	rdb.Set(ctx, q.key("bin", hash), "#!/bin/sh\necho owned\n", 0)
	corrupt := markTask("corrupt", markFile, 1, 0)
	corrupt.Binaries = map[string]executors.Binary{executors.Platform: {Hash: hash, Path: "/dispatcher/native/bin/x"}}
	// One Redis lost after it was queued.
	_, lost := fakeBinary(t, 100)
	rdb.Set(ctx, q.key("bin", lost), "whatever", 0)
	missing := markTask("missing", markFile, 2, 0)
	missing.Binaries = map[string]executors.Binary{executors.Platform: {Hash: lost, Path: "/dispatcher/native/bin/y"}}
	q.PutProgram(ctx, corrupt.ProgramHash, corrupt.Program)
	if _, err := q.Enqueue(ctx, corrupt, missing); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, q.key("bin", lost))
	cache := t.TempDir()
	w := NewWorker(q, WorkerConfig{ID: "w", Command: []string{workerBinary, "worker", "--pipe"}, BinaryDir: cache, Logger: quietLog()})
	go w.Run(ctx)
	var cs []Completion
	wait.For(t, "both tasks complete", 15*time.Second, func() bool {
		cs, _, _ = q.Results(ctx, "0", 10, 0)
		return len(cs) == 2
	})
	for _, c := range cs {
		switch c.TaskID {
		case "corrupt":
			if !strings.Contains(c.Outcome.Error, "native binary") || !strings.Contains(c.Outcome.Error, "corrupted in Redis") {
				t.Fatalf("corrupt binary: %+v", c.Outcome)
			}
		case "missing":
			if c.Outcome.Error != "" || executortest.Text(c.Outcome.Output) != "2" {
				t.Fatalf("missing binary: %+v", c.Outcome)
			}
		}
	}
	if m := marks(markFile); len(m) != 1 || m[2] != 1 {
		t.Fatalf("bodies run: %v", m)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Fatalf("kept in the cache: %v", entries)
	}
}

// A task cancelled while its worker fetches its binary ends cancelled and never starts.
func TestCancelWhileFetchingTheBinary(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	_, rdb, q := setup(t, Options{})
	markFile := filepath.Join(t.TempDir(), "marks")
	path, hash := fakeBinary(t, 100)
	if err := q.PutBinary(ctx, hash, path); err != nil {
		t.Fatal(err)
	}
	tk := markTask("t", markFile, 1, 0)
	tk.Binaries = map[string]executors.Binary{executors.Platform: {Hash: hash, Path: path}}
	q.PutProgram(ctx, tk.ProgramHash, tk.Program)
	w := NewWorker(q, WorkerConfig{ID: "w", Command: []string{workerBinary, "worker", "--pipe"}, BinaryDir: t.TempDir(), Logger: quietLog()})
	// The fetch waits until the test lets it go on: another fetch of the same binary holds it.
	held := &binaryFetch{done: make(chan struct{})}
	w.bins.fetches[hash] = held
	if _, err := q.Enqueue(ctx, tk); err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx)
	wait.For(t, "the task to wait for its binary", 10*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		lr := w.leases["t"]
		return lr != nil && len(lr.fetching) == 1
	})
	wait.For(t, "the worker to listen for cancellations", 10*time.Second, func() bool {
		return rdb.PubSubNumSub(ctx, q.CancelChannel()).Val()[q.CancelChannel()] == 1
	})
	if err := q.Cancel(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	var cs []Completion
	wait.For(t, "the cancelled task to complete", 10*time.Second, func() bool {
		cs, _, _ = q.Results(ctx, "0", 10, 0)
		return len(cs) == 1
	})
	if !cs[0].Outcome.Cancelled {
		t.Fatalf("outcome %+v", cs[0].Outcome)
	}
	held.path = path
	close(held.done)
	time.Sleep(300 * time.Millisecond) // a negative check: time for a task started wrongly to leave its mark
	if m := marks(markFile); len(m) != 0 {
		t.Fatalf("a cancelled task ran: %v", m)
	}
}

// BenchmarkBinaryStoreAndFetch stores an 8 MB binary (the size of a typical native worker) and fetches it back:
// what the first task of a program costs the dispatcher and each worker, once.
func BenchmarkBinaryStoreAndFetch(b *testing.B) {
	ctx := context.Background()
	_, rdb, q := setup(b, Options{})
	data := make([]byte, 8<<20)
	rand.Read(data)
	path := filepath.Join(b.TempDir(), "bin")
	os.WriteFile(path, data, 0o700)
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		rdb.Del(ctx, q.key("bin", hash))
		if err := q.PutBinary(ctx, hash, path); err != nil {
			b.Fatal(err)
		}
		if err := q.Binary(ctx, hash, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// An upload adds a piece only where the last one ended: a piece sent twice (a retry) is added once, and pieces
// Redis lost (restarted or flushed meanwhile) fail the upload rather than store a binary that is not the file.
func TestBinaryUploadIsWholeOrNothing(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{})
	tmp, key := q.key("binup", "test"), q.key("bin", "test")
	for _, p := range []struct {
		off   int64
		piece string
	}{{0, "abc"}, {0, "abc"}, {3, "def"}, {3, "def"}} {
		if err := q.appendPiece(ctx, tmp, p.off, []byte(p.piece)); err != nil {
			t.Fatal(err)
		}
	}
	if v := rdb.Get(ctx, tmp).Val(); v != "abcdef" {
		t.Fatalf("upload %q", v)
	}
	rdb.Del(ctx, tmp) // Redis restarted empty
	if err := q.appendPiece(ctx, tmp, 6, []byte("ghi")); !errors.Is(err, errUploadLost) {
		t.Fatalf("a piece after lost ones: %v", err)
	}
	q.appendPiece(ctx, tmp, 0, []byte("abc"))
	if err := q.commitBinary(ctx, tmp, key, 9); !errors.Is(err, errUploadLost) || rdb.Exists(ctx, tmp, key).Val() != 0 {
		t.Fatalf("an upload short of its size: %v", err)
	}
}

// A binary Redis has no memory for is not stored (the upload's part is freed at once), and its tasks are queued
// without it, to run interpreted.
func TestBinaryRedisHasNoRoomFor(t *testing.T) {
	ctx := context.Background()
	_, rdb, q := setup(t, Options{})
	used, _ := strconv.ParseInt(infoField(t, rdb, "used_memory"), 10, 64)
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+(4<<20), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	path, hash := fakeBinary(t, 8<<20)
	err := q.PutBinary(ctx, hash, path)
	if !binaryRefused(err) {
		t.Fatalf("storing a binary Redis has no room for: %v", err)
	}
	if keys := rdb.Keys(ctx, q.key("bin*")).Val(); len(keys) != 0 {
		t.Fatalf("left in Redis: %v", keys)
	}
	e := NewPool("pool", q, quietLog())
	defer e.Close()
	tk := chunkTask("a", "Inc", "1")
	tk.Binaries = map[string]executors.Binary{executors.Platform: {Hash: hash, Path: path}}
	submit(e, tk)
	var l []Lease
	wait.For(t, "the task queued", 10*time.Second, func() bool {
		l, _ = q.Dequeue(ctx, "w", nil, 1)
		return len(l) == 1
	})
	if len(l[0].Task.Binaries) != 0 {
		t.Fatalf("queued with binaries %+v", l[0].Task.Binaries)
	}
}

func infoField(t *testing.T, rdb *redis.Client, name string) string {
	t.Helper()
	for _, line := range strings.Split(rdb.Info(context.Background(), "memory").Val(), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in INFO", name)
	return ""
}
