package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/executors/executortest"
	"github.com/govalent/govalent/results"
)

// `govalent backup DIR` copies a running dispatcher's store into a data directory that opens and holds every
// dispatch; a start on a damaged database is refused with what to do.
func TestBackupCommandAndADamagedStart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	startForeground(t, dir, port)
	env := []string{"GOVALENT_DISPATCHER=http://127.0.0.1:" + strconv.Itoa(port)}
	if out, err := govalent(t, env, "run", "../../examples/pipeline.go"); err != nil || !strings.Contains(out, "COMPLETED 770") {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if out, err := govalent(t, env, "status"); err != nil || strings.Contains(out, "STORAGE") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	dest := filepath.Join(t.TempDir(), "backup")
	out, err := govalent(t, env, "backup", dest)
	if err != nil || !strings.Contains(out, "backup in "+dest+": 1 dispatches") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if out, err := govalent(t, env, "backup", dest); err == nil || !strings.Contains(out, "not empty") {
		t.Fatalf("backup into a used directory: %v\n%s", err, out)
	}
	st, err := results.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	recs, total, err := st.List(t.Context(), results.ListQuery{})
	if err != nil || total != 1 || recs[0].Status != ct.StatusCompleted || executortest.Text(recs[0].Result) != "770" {
		st.Close()
		t.Fatalf("backup holds %d dispatches %+v: %v", total, recs, err)
	}
	nodes, err := st.Nodes(t.Context(), recs[0].ID)
	st.Close()
	if err != nil || len(nodes) == 0 {
		t.Fatalf("backup holds %d nodes: %v", len(nodes), err)
	}
	db := filepath.Join(dest, "govalent.db")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(strings.Repeat("\xa5", 4096)), fi.Size()-4096) // the last page: in use in a vacuumed copy
	f.Close()
	out, err = govalent(t, nil, "start", "--foreground", "--data-dir", dest, "--port", strconv.Itoa(freePort(t)))
	if err == nil || !strings.Contains(out, db+" is damaged") || !strings.Contains(out, "govalent backup") {
		t.Fatalf("start on a damaged database: %v\n%s", err, out)
	}
}
