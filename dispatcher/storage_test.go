package dispatcher_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/results"
)

// smallDisk mounts a tmpfs of size bytes (tests run as root) and unmounts it when the test ends. A sandbox
// that cannot mount fails the test: it is not skipped.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a %d-byte tmpfs at %s (the full-disk test needs root): %v\n%s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file into dir until its file system is full, and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for n := len(block) / 2; n > 0; n /= 2 { // the last bytes too
		f.Write(block[:n])
	}
	return path
}

// health answers /healthz.
func (e *env) health() (int, map[string]any) {
	e.t.Helper()
	return request(e.t, "GET", e.url+"/healthz", "")
}

// A full disk while nodes finish: their outcomes are held and retried, never FAILED; the API shows them
// RUNNING, as the database does; /healthz and /status report it; new dispatches get 503; once there is room
// the dispatch completes, and the database holds it.
func TestFullDiskHoldsOutcomesUntilThereIsRoom(t *testing.T) {
	data := smallDisk(t, 16<<20)
	gate := filepath.Join(t.TempDir(), "gate")
	e, stop := startEnv(t, dispatcher.Config{DataDir: data})
	e.cell(fmt.Sprintf(`
import (
	"os"
	"strings"
	"time"
)

// Big waits for the gate, then returns a value for the database (even i) or the object store (odd i).
func Big(i int) string {
	for {
		if _, err := os.Stat(%q); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return strings.Repeat(string(rune('a'+i)), 100<<10+i%%2*200<<10)
}

func Total(xs []string) int { n := 0; for _, x := range xs { n += len(x) }; return n }

var big = ct.Electron(Big)
var total = ct.Electron(Total)

var fanout = ct.Lattice(func(n int) ct.Future {
	var xs []ct.Future
	for i := 0; i < n; i++ {
		xs = append(xs, big(i))
	}
	return total(xs)
})
id, err := ct.Dispatch(fanout, 4)
`, gate))
	id := e.value("id").(string)
	cl := e.client()
	wait.For(t, "the nodes to run", 30*time.Second, func() bool {
		res, err := cl.GetResult(id, false)
		return err == nil && res.Nodes[0].Status == ct.StatusRunning && res.Nodes[3].Status == ct.StatusRunning
	})
	filler := fill(t, data)
	os.WriteFile(gate, nil, 0o644)
	wait.For(t, "/healthz to report the full disk", 30*time.Second, func() bool {
		_, h := e.health()
		return h["status"] == "degraded"
	})
	_, h := e.health()
	storage, _ := h["storage"].(map[string]any)
	if msg, _ := storage["error"].(string); !strings.Contains(msg, "no space left on device") && !strings.Contains(msg, "full") {
		t.Fatalf("healthz: %v", h)
	}
	code, body := request(t, "POST", e.url+"/api/v1/dispatches", `{"graph":{"name":"x","nodes":[{"node_id":0,"name":"a","kind":"list"}],"output":{"node":0}}}`)
	if msg, _ := body["error"].(string); code != http.StatusServiceUnavailable || !strings.Contains(msg, "cannot write") {
		t.Fatalf("a dispatch while the disk is full: %d %v", code, body)
	}
	var rep dispatcher.StatusReport
	if err := cl.Status(&rep); err != nil || rep.Storage == nil || rep.Storage.Held == 0 {
		t.Fatalf("status: %+v %v", rep.Storage, err)
	}
	// Once the four outcomes are held (each is one save), the API shows what is stored, RUNNING, for as long as
	// the disk is full.
	wait.For(t, "the four outcomes to be held", 30*time.Second, func() bool {
		var rep dispatcher.StatusReport
		return cl.Status(&rep) == nil && rep.Storage != nil && rep.Storage.Held >= 4
	})
	res, err := cl.GetResult(id, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Nodes[:4] {
		if n.Status != ct.StatusRunning {
			t.Fatalf("node %d is %s (%s) while its outcome cannot be stored", n.NodeID, n.Status, n.Error)
		}
	}
	os.Remove(filler)
	res, err = cl.GetResultContext(t.Context(), id, true)
	if err != nil || res.Status != ct.StatusCompleted || string(res.RawResult) != fmt.Sprint(2*100<<10+2*300<<10) {
		t.Fatalf("after the disk has room: %+v %v", res, err)
	}
	if _, h := e.health(); h["status"] != "ok" {
		t.Fatalf("healthz after recovery: %v", h)
	}
	stop()
	st, err := results.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Dispatch(t.Context(), id)
	if err != nil || rec.Status != ct.StatusCompleted {
		t.Fatalf("stored dispatch %+v %v", rec, err)
	}
	nodes, err := st.Nodes(t.Context(), id)
	if err != nil || len(nodes) != len(res.Nodes) {
		t.Fatalf("stored nodes %d %v", len(nodes), err)
	}
	for _, n := range nodes {
		if n.Status != ct.StatusCompleted || n.Error != "" {
			t.Fatalf("stored node %d: %s %s", n.NodeID, n.Status, n.Error)
		}
	}
}

// A database file removed under a running dispatcher: new dispatches are refused with what happened, /healthz
// says so, and a backup still saves every dispatch (behind the token, like the rest of the API).
func TestRemovedDatabaseRefusesDispatchesAndCanBeBackedUp(t *testing.T) {
	e, _ := startEnv(t, dispatcher.Config{Token: "tok"})
	auth := []string{"Authorization", "Bearer tok"}
	oneNode := `{"graph":{"name":"x","nodes":[{"node_id":0,"name":"a","kind":"list"}],"output":{"node":0}}}`
	code, body := request(t, "POST", e.url+"/api/v1/dispatches", oneNode, auth...)
	if code != 201 {
		t.Fatalf("dispatch: %d %v", code, body)
	}
	first := body["dispatch_id"].(string)
	wait.For(t, "the dispatch to finish", 10*time.Second, func() bool {
		_, b := request(t, "GET", e.url+"/api/v1/dispatches/"+first, "", auth...)
		return b["status"] == "COMPLETED"
	})
	db := filepath.Join(e.dir, "govalent.db")
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	code, body = request(t, "POST", e.url+"/api/v1/dispatches", oneNode, auth...)
	if msg, _ := body["error"].(string); code != http.StatusServiceUnavailable || !strings.Contains(msg, db+" was removed") || !strings.Contains(msg, "govalent backup") {
		t.Fatalf("dispatch after the database was removed: %d %v", code, body)
	}
	if _, h := e.health(); h["status"] != "degraded" {
		t.Fatalf("healthz: %v", h)
	}
	resp := send(t, "GET", e.url+"/api/v1/backup", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("backup without the token: %d", resp.StatusCode)
	}
	resp = send(t, "GET", e.url+"/api/v1/backup", "", auth...)
	defer resp.Body.Close()
	n, _, err := results.Unpack(resp.Body, filepath.Join(t.TempDir(), "rescue"))
	if resp.StatusCode != 200 || err != nil || n != 1 {
		t.Fatalf("backup: %d, %d dispatches, %v", resp.StatusCode, n, err)
	}
}

// A damaged database stops the dispatcher at start with the file, the problem and what to do.
func TestDamagedDatabaseStopsTheStart(t *testing.T) {
	e, stop := startEnv(t, dispatcher.Config{})
	for range 100 {
		if code, body := request(t, "POST", e.url+"/api/v1/dispatches", `{"graph":{"name":"`+strings.Repeat("n", 200)+`","nodes":[{"node_id":0,"name":"a","kind":"list"}],"output":{"node":0}}}`); code != 201 {
			t.Fatalf("dispatch: %d %v", code, body)
		}
	}
	stop()
	db := filepath.Join(e.dir, "govalent.db")
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(strings.Repeat("\xa5", 4096)), 3*4096) // a table page
	f.Close()
	_, err = dispatcher.New(dispatcher.Config{DataDir: e.dir, Executors: testExecutors(t, nil)})
	if err == nil || !strings.Contains(err.Error(), db+" is damaged") || !strings.Contains(err.Error(), "govalent backup") {
		t.Fatalf("start on a damaged database: %v", err)
	}
}

// A sublattice built while the disk is full becomes its child dispatch once there is room: it does not fail.
func TestFullDiskDelaysASublatticeWithoutFailingIt(t *testing.T) {
	data := smallDisk(t, 16<<20)
	gate := filepath.Join(t.TempDir(), "gate")
	e, _ := startEnv(t, dispatcher.Config{DataDir: data})
	e.cell(fmt.Sprintf(`
import (
	"os"
	"time"
)

func WaitGate() {
	for {
		if _, err := os.Stat(%q); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
func Add(a, b int) int { return a + b }
var add = ct.Electron(Add)

var inner = ct.Lattice(func(a int) ct.Future { WaitGate(); return add(a, 1) })
var innerNode = ct.Electron(inner)
var outer = ct.Lattice(func(a int) ct.Future { return innerNode(a) })
id, err := ct.Dispatch(outer, 41)
`, gate))
	id := e.value("id").(string)
	cl := e.client()
	wait.For(t, "the sublattice to be built", 30*time.Second, func() bool {
		res, err := cl.GetResult(id, false)
		return err == nil && res.Nodes[0].Status == ct.StatusRunning
	})
	filler := fill(t, data)
	os.WriteFile(gate, nil, 0o644)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		res, err := cl.GetResult(id, false)
		if err != nil || res.Nodes[0].Status != ct.StatusRunning || res.Status != ct.StatusRunning {
			t.Fatalf("while the disk is full: %+v %v", res, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.Remove(filler)
	res, err := cl.GetResultContext(t.Context(), id, true)
	if err != nil || res.Status != ct.StatusCompleted || string(res.RawResult) != "42" || res.Nodes[0].SubDispatchID == "" {
		t.Fatalf("after the disk has room: %+v %v", res, err)
	}
}

// A node's dependents do not wait for its outcome to be stored: with the disk full, the next node of a chain
// runs while the first one's outcome is held, which stays RUNNING to the API until it is stored; once there is
// room, both are stored and the dispatch completes.
func TestDependentsRunWhileAnOutcomeIsStored(t *testing.T) {
	data := smallDisk(t, 16<<20)
	gate := filepath.Join(t.TempDir(), "gate")
	ran := filepath.Join(t.TempDir(), "ran")
	e, stop := startEnv(t, dispatcher.Config{DataDir: data})
	e.cell(fmt.Sprintf(`
import (
	"os"
	"strings"
	"time"
)

func First() string {
	for {
		if _, err := os.Stat(%q); err == nil {
			return strings.Repeat("x", 300<<10) // for the object store
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func Second(s string) int {
	os.WriteFile(%q, nil, 0o644)
	return len(s)
}

var chain = ct.Lattice(func() ct.Future { return ct.Electron(Second)(ct.Electron(First)()) })
id, err := ct.Dispatch(chain)
`, gate, ran))
	id := e.value("id").(string)
	cl := e.client()
	wait.For(t, "the first node to run", 30*time.Second, func() bool {
		res, err := cl.GetResult(id, false)
		return err == nil && res.Nodes[0].Status == ct.StatusRunning
	})
	filler := fill(t, data)
	os.WriteFile(gate, nil, 0o644)
	wait.For(t, "the second node to run while the first one's outcome is held", 30*time.Second, func() bool {
		_, err := os.Stat(ran)
		return err == nil
	})
	res, err := cl.GetResult(id, false)
	if err != nil || res.Status != ct.StatusRunning || res.Nodes[0].Status != ct.StatusRunning {
		t.Fatalf("while the first outcome cannot be stored: %+v %v", res, err)
	}
	os.Remove(filler)
	res, err = cl.GetResultContext(t.Context(), id, true)
	if err != nil || res.Status != ct.StatusCompleted || string(res.RawResult) != fmt.Sprint(300<<10) {
		t.Fatalf("after the disk has room: %+v %v", res, err)
	}
	stop()
	st, err := results.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nodes, err := st.Nodes(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Status != ct.StatusCompleted {
			t.Fatalf("stored node %d: %s %s", n.NodeID, n.Status, n.Error)
		}
	}
}
