package results

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/internal/testkit/wait"
)

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func createDispatch(t *testing.T, m *Manager, id string) {
	t.Helper()
	rec := &DispatchRecord{ID: id, RootID: id, ParentNode: -1, Status: ct.StatusRunning, Created: time.Now()}
	if err := m.CreateDispatch(t.Context(), rec, []byte(`{"nodes":[]}`), ct.Program{Source: "package main"}); err != nil {
		t.Fatal(err)
	}
}

// limitPages makes SQLite itself answer "database or disk is full" once the database would grow past pages
// (max_page_count is per connection: it is set on every connection of the pool).
func limitPages(t *testing.T, s *Store, pages int) {
	t.Helper()
	ctx := context.Background()
	var conns []*sql.Conn
	for range maxConns {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

func pageCount(t *testing.T, s *Store) int {
	var n int
	if err := s.db.QueryRow("PRAGMA page_count").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A full database is not a failed write: the Manager holds the batch, reports the condition, takes further
// saves without blocking, and writes everything once there is room again.
func TestFullDatabaseHoldsWritesUntilThereIsRoom(t *testing.T) {
	m, _ := openStore(t)
	createDispatch(t, m, "d")
	if h := m.Health(); h != nil {
		t.Fatalf("healthy store reports %+v", h)
	}
	limitPages(t, m.Store, pageCount(t, m.Store))
	big := json.RawMessage(`"` + strings.Repeat("x", 64<<10) + `"`) // overflow pages: the database must grow
	stored := make(chan error, 1)
	go func() {
		stored <- m.SaveSync(t.Context(), Batch{Nodes: []NodeRecord{{DispatchID: "d", NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Output: big}}}})
	}()
	wait.For(t, "the store to report it cannot write", 20*time.Second, func() bool { return m.Health() != nil })
	h := m.Health()
	if !strings.Contains(h.Error, "full") || h.Held < 1 || h.Since.IsZero() {
		t.Fatalf("health %+v", h)
	}
	if err := m.Writable(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("writable: %v", err)
	}
	// more than a channel's worth of saves arrive meanwhile: none of them waits for the disk
	saved := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2 * maxBatch)
	go func() {
		for i := 1; i <= 2*maxBatch; i++ {
			m.Save(Batch{Nodes: []NodeRecord{{DispatchID: "d", NodeID: i, NodeState: NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`1`)}}}},
				func(err error) {
					if err != nil {
						t.Errorf("save %d: %v", i, err)
					}
					wg.Done()
				})
		}
		close(saved)
	}()
	select {
	case <-saved:
	case <-time.After(20 * time.Second):
		t.Fatal("Save blocked while the store could not write")
	}
	select {
	case err := <-stored:
		t.Fatalf("SaveSync returned %v while the database was full", err)
	default:
	}
	if nodes, err := m.Nodes(t.Context(), "d"); err != nil || len(nodes) != 0 {
		t.Fatalf("stored while full: %d nodes, %v", len(nodes), err)
	}
	limitPages(t, m.Store, 1<<30) // room again
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	nodes, err := m.Nodes(t.Context(), "d")
	if err != nil || len(nodes) != 2*maxBatch+1 || string(nodes[0].Output) != string(big) {
		t.Fatalf("%d nodes, %v", len(nodes), err)
	}
	if h := m.Health(); h != nil {
		t.Fatalf("still degraded after a commit: %+v", h)
	}
}

// Closing a store that cannot write gives up at once: the held saves get an error (their nodes run again at the
// next start), nothing hangs.
func TestCloseGivesUpOnHeldWrites(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(s, slogDiscard())
	createDispatch(t, m, "d")
	limitPages(t, s, pageCount(t, s))
	got := make(chan error, 1)
	m.Save(Batch{Nodes: []NodeRecord{{DispatchID: "d", NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`"` + strings.Repeat("y", 64<<10) + `"`)}}}},
		func(err error) { got <- err })
	wait.For(t, "the store to report it cannot write", 20*time.Second, func() bool { return m.Health() != nil })
	m.Close()
	if err := <-got; err == nil {
		t.Fatal("a write that never reached the disk was reported stored")
	}
}

// A database file removed under the store: every write is refused with what to do, the condition shows in
// Health, and a backup still saves what the open database holds.
func TestRemovedDatabaseRefusesWritesAndCanBeBackedUp(t *testing.T) {
	m, dir := openStore(t)
	createDispatch(t, m, "before")
	if err := m.SaveSync(t.Context(), Batch{Nodes: []NodeRecord{{DispatchID: "before", NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`42`)}}}}); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "govalent.db")
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	rec := &DispatchRecord{ID: "after", RootID: "after", ParentNode: -1, Status: ct.StatusNew, Created: time.Now()}
	err := m.CreateDispatch(t.Context(), rec, []byte(`{}`), ct.Program{})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), db+" was removed") || !strings.Contains(err.Error(), "govalent backup") {
		t.Fatalf("create after removal: %v", err)
	}
	if h := m.Health(); h == nil || !strings.Contains(h.Error, "was removed") {
		t.Fatalf("health %+v", h)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("an empty database was created in place of the removed one")
	}
	held := make(chan error, 1)
	m.Save(Batch{Nodes: []NodeRecord{{DispatchID: "before", NodeID: 1, NodeState: NodeState{Status: ct.StatusCompleted, Output: json.RawMessage(`7`)}}}}, func(err error) { held <- err })
	wait.For(t, "the write to be held", 20*time.Second, func() bool { h := m.Health(); return h != nil && h.Held == 1 })
	select {
	case err := <-held:
		t.Fatalf("a write to a removed database was reported: %v", err)
	default:
	}
	var buf bytes.Buffer
	if err := m.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	rescue := filepath.Join(t.TempDir(), "rescue")
	n, _, err := Unpack(&buf, rescue)
	if err != nil || n != 1 {
		t.Fatalf("unpacked %d dispatches: %v", n, err)
	}
	s, err := Open(rescue)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if nodes, err := s.Nodes(t.Context(), "before"); err != nil || len(nodes) != 1 || string(nodes[0].Output) != "42" {
		t.Fatalf("rescued nodes %+v, %v", nodes, err)
	}
}

// A database file replaced under the store (say, by a copy restored while it ran) is not written to either.
func TestReplacedDatabaseRefusesWrites(t *testing.T) {
	m, dir := openStore(t)
	createDispatch(t, m, "d")
	db := filepath.Join(dir, "govalent.db")
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+".new", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db+".new", db); err != nil {
		t.Fatal(err)
	}
	err = m.Delete(t.Context(), "d")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "was replaced") {
		t.Fatalf("delete after replacement: %v", err)
	}
	if err := m.Writable(); err == nil || !strings.Contains(err.Error(), "was replaced") {
		t.Fatalf("writable: %v", err)
	}
}

// corrupt overwrites n bytes of the file at off.
func corrupt(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, n), off); err != nil {
		t.Fatal(err)
	}
}

// A damaged database is refused at start, with the file, the problem and what to do; not found the first
// time a dispatch on a damaged page is read.
func TestDamagedDatabaseIsRefusedAtOpen(t *testing.T) {
	for _, c := range []struct {
		name string
		off  int64
		n    int
	}{
		{"header", 0, 100},
		{"a table page", 4096 * 4, 4096}, // pages are 4 KiB; page 1 is the schema
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			m := NewManager(s, slogDiscard())
			for i := range 200 {
				createDispatch(t, m, fmt.Sprintf("dispatch-%03d-%s", i, strings.Repeat("n", 100)))
			}
			m.Close()
			db := filepath.Join(dir, "govalent.db")
			if fi, err := os.Stat(db); err != nil || fi.Size() < 8*4096 {
				t.Fatalf("database of %v bytes: %v", fi.Size(), err)
			}
			corrupt(t, db, c.off, c.n)
			_, err = Open(dir)
			if err == nil {
				t.Fatal("a damaged database was opened")
			}
			t.Log(err)
			for _, want := range []string{db + " is damaged", "govalent backup", "move " + db} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
		})
	}
}

// A backup made while dispatches are written is consistent: it opens, passes quick_check, and holds every
// dispatch stored before it began, with every object its rows refer to.
func TestBackupWhileWriting(t *testing.T) {
	m, _ := openStore(t)
	big := func(i int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`"%d%s"`, i, strings.Repeat("b", InlineLimit))) // an object each
	}
	var mu sync.Mutex
	created := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprint("d", i)
			createDispatch(t, m, id)
			if err := m.SaveSync(t.Context(), Batch{Nodes: []NodeRecord{{DispatchID: id, NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Output: big(i)}}}}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			created = i + 1
			mu.Unlock()
		}
	}()
	defer func() { close(stop); <-done }()
	for round := range 3 {
		wait.For(t, "more dispatches", 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return created > 5*(round+1) })
		mu.Lock()
		before := created
		mu.Unlock()
		var buf bytes.Buffer
		if err := m.Backup(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "backup")
		n, objs, err := Unpack(&buf, dir)
		if err != nil || n < before || objs < before {
			t.Fatalf("round %d: backup of %d dispatches and %d objects, %d stored before: %v", round, n, objs, before, err)
		}
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			id := fmt.Sprint("d", i)
			nodes, err := s.Nodes(t.Context(), id)
			if err != nil || len(nodes) > 1 || (len(nodes) == 1 && string(nodes[0].Output) != string(big(i))) {
				s.Close()
				t.Fatalf("round %d: %s in the backup: %d nodes, %v", round, id, len(nodes), err)
			}
			if i < before && len(nodes) != 1 {
				s.Close()
				t.Fatalf("round %d: %s was stored before the backup began but its node is not in it", round, id)
			}
		}
		s.Close()
	}
}

// Unpack refuses an archive cut short, even at a file's end.
func TestUnpackRefusesATruncatedBackup(t *testing.T) {
	m, _ := openStore(t)
	createDispatch(t, m, "d")
	var buf bytes.Buffer
	if err := m.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	// cut right after the database entry (its header block, then its data in 512-byte blocks)
	data := buf.Bytes()
	hdr, err := tar.NewReader(bytes.NewReader(data)).Next()
	if err != nil || hdr.Name != BackupDB {
		t.Fatalf("first entry %+v, %v", hdr, err)
	}
	cut := 512 + (hdr.Size+511)/512*512
	_, _, err = Unpack(bytes.NewReader(data[:cut]), filepath.Join(t.TempDir(), "b"))
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("truncated backup: %v", err)
	}
	if _, _, err := Unpack(bytes.NewReader(data), t.TempDir()+"/ok"); err != nil {
		t.Fatal(err)
	}
}
