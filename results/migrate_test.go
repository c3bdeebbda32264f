package results

import (
	"bytes"
	"database/sql"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
	"github.com/pressly/goose/v3"
)

// copyFixture copies a data directory of testdata into a temporary one.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	src, dst := filepath.Join("testdata", name), t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// schemaOf is the schema of the database at path, but goose's table (and SQLite's own): each table's and index's SQL, its blanks
// made one space.
func schemaOf(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name != ? AND name NOT LIKE 'sqlite%' ORDER BY name`,
		goose.DefaultTablename)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	blanks := regexp.MustCompile(`\s+`)
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, blanks.ReplaceAllString(s, " "))
	}
	return out
}

// Migration 1 is exactly the schema of the code before versioned migrations, which made the fixture.
func TestMigrationOneIsTheUnversionedSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	got, want := schemaOf(t, path), schemaOf(t, filepath.Join("testdata", "fixture-v1", "govalent.db"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("migration 1 makes\n%s\nthe unversioned schema is\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A data directory written by the code before versioned migrations opens with every dispatch, node and value,
// after a backup of the database as it was.
func TestUpgradeFromV1(t *testing.T) {
	dir := copyFixture(t, "fixture-v1")
	var logs bytes.Buffer
	s, err := OpenWith(dir, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	recs, total, err := s.List(ctx, ListQuery{})
	if err != nil || total != 3 || len(recs) != 3 {
		t.Fatalf("listed %d of %d dispatches: %v", len(recs), total, err)
	}
	statuses := map[string]ct.Status{}
	for _, r := range recs {
		statuses[r.ID] = r.Status
	}
	if statuses["fixture-completed"] != ct.StatusCompleted || statuses["fixture-child"] != ct.StatusCompleted ||
		statuses["fixture-failed"] != ct.StatusFailed {
		t.Fatalf("statuses %v", statuses)
	}
	parent, err := s.Dispatch(ctx, "fixture-completed")
	if err != nil || string(parent.Result) != "9" || string(parent.Inputs) != `{"n":3}` || parent.NodeCount != 2 ||
		len(parent.Notes) != 1 || parent.Started.IsZero() {
		t.Fatalf("completed dispatch %+v: %v", parent, err)
	}
	nodes, err := s.Nodes(ctx, "fixture-completed")
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes %+v: %v", nodes, err)
	}
	large := `"` + strings.Repeat("x", InlineLimit+1) + `"`
	if string(nodes[0].Output) != large || nodes[0].Stdout != "loaded\n" || nodes[0].Executor != "local" || nodes[0].Attempts != 1 {
		t.Fatalf("node 0 (its output in objects/): %d bytes, %q, err %q", len(nodes[0].Output), nodes[0].Stdout, nodes[0].Error)
	}
	if nodes[1].SubDispatchID != "fixture-child" || string(nodes[1].Output) != "9" {
		t.Fatalf("sublattice node %+v", nodes[1])
	}
	child, err := s.Dispatch(ctx, "fixture-child")
	if err != nil || child.ParentID != "fixture-completed" || child.ParentNode != 1 || child.RootID != "fixture-completed" {
		t.Fatalf("child %+v: %v", child, err)
	}
	if cn, err := s.Nodes(ctx, "fixture-child"); err != nil || len(cn) != 1 || cn[0].Stderr != "squaring\n" {
		t.Fatalf("child's nodes %+v: %v", cn, err)
	}
	failed, err := s.Dispatch(ctx, "fixture-failed")
	fn, nerr := s.Nodes(ctx, "fixture-failed")
	if err != nil || nerr != nil || !strings.Contains(failed.Error, "it broke") || len(fn) != 1 ||
		fn[0].Status != ct.StatusFailed || fn[0].Attempts != 2 || !strings.Contains(fn[0].Stack, "main.boom") {
		t.Fatalf("failed dispatch %+v %+v: %v %v", failed, fn, err, nerr)
	}
	if g, err := s.Graph(ctx, "fixture-completed"); err != nil || len(g.Nodes) != 2 || g.Nodes[1].Kind != ct.KindSublattice {
		t.Fatalf("graph %+v: %v", g, err)
	}
	if p, err := s.Program(ctx, parent.ProgramHash); err != nil || !strings.HasPrefix(p.Source, "package main") || p.GoMod != "" {
		t.Fatalf("program %+v: %v", p, err)
	}
	// it goes on storing
	rec := &DispatchRecord{ID: "after", RootID: "after", ParentNode: -1, Status: ct.StatusRunning}
	if err := s.CreateDispatch(ctx, rec, []byte(`{"nodes":[]}`), ct.Program{}); err != nil {
		t.Fatal(err)
	}

	// The database was backed up, as it was (at version 1: without migration 2's index), before migrating.
	backups, _ := filepath.Glob(filepath.Join(dir, "govalent.db.bak-v1-*"))
	if len(backups) != 1 || !strings.Contains(logs.String(), "backed up the database") || !strings.Contains(logs.String(), backups[0]) {
		t.Fatalf("backups %v, logs:\n%s", backups, logs.String())
	}
	if info, err := os.Stat(backups[0]); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("backup: %v %v", info.Mode(), err)
	}
	before := strings.Join(schemaOf(t, backups[0]), "\n")
	after := strings.Join(schemaOf(t, filepath.Join(dir, "govalent.db")), "\n")
	if strings.Contains(before, "dispatches_parent_status") || !strings.Contains(after, "dispatches_parent_status") {
		t.Fatalf("schema before:\n%s\nafter:\n%s", before, after)
	}
	old, err := Open(copyBackup(t, backups[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, n, err := old.List(ctx, ListQuery{}); err != nil || n != 3 {
		t.Fatalf("the backup holds %d dispatches: %v", n, err)
	}

	// Opened again, nothing is pending: no second backup.
	s.Close()
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if again, _ := filepath.Glob(filepath.Join(dir, "govalent.db.bak-*")); len(again) != 1 {
		t.Fatalf("backups after a second start: %v", again)
	}
}

// copyBackup puts a backup's database in a data directory of its own.
func copyBackup(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, BackupDB), data, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// A new database is made at the newest version, with no backup of the empty one.
func TestNewDatabaseNeedsNoBackup(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	s, err := OpenWith(dir, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if backups, _ := filepath.Glob(filepath.Join(dir, "*.bak-*")); len(backups) != 0 || strings.Contains(logs.String(), "backed up") {
		t.Fatalf("backups %v of a new database; logs:\n%s", backups, logs.String())
	}
	if !strings.Contains(strings.Join(schemaOf(t, filepath.Join(dir, BackupDB)), "\n"), "dispatches_parent_status") {
		t.Fatal("a new database lacks the newest migration")
	}
}

// A database written by a newer govalent, whose schema this one does not know, is refused and left as it is.
func TestNewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, BackupDB)
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO ` + goose.DefaultTablename + `(version_id, is_applied) VALUES (999, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = OpenWith(dir, Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "schema version 999, newer than this govalent knows") {
		t.Fatalf("opening a newer database: %v", err)
	}
	if backups, _ := filepath.Glob(filepath.Join(dir, "*.bak-*")); len(backups) != 0 {
		t.Fatalf("backups %v", backups)
	}
}
