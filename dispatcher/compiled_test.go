package dispatcher_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/internal/testkit/wait"
)

// Electrons of this test binary, a compiled program (TestMain calls ct.Main first).
var (
	compiledSquare      = ct.Electron(func(x int) int { return x * x })
	compiledPID         = ct.Electron(os.Getpid)
	compiledOnQsim      = ct.Electron(strings.ToUpper, ct.Executor("qsim"))
	compiledInterpreted = ct.Electron(strings.ToLower, ct.Interpreted())
	compiledAwait       = ct.Electron(awaitFile)
)

// awaitFile returns the name of the executable it runs in once path exists.
func awaitFile(path string) (string, error) {
	for {
		if _, err := os.Stat(path); err == nil {
			exe, err := os.Executable()
			return filepath.Base(exe), err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ownExecutableHash(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// A compiled program's electrons run in the dispatcher's copy of its executable, in either tier (they need no
// toolchain); those whose executor cannot run it fail, saying why, and the others run.
func TestCompiledProgramDispatch(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	res, err := c.DispatchSync(ct.Lattice(func(n int) []ct.Future { return []ct.Future{compiledSquare(n), compiledPID()} }), 7)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	if res.Status != ct.StatusCompleted || res.Decode(&out) != nil || len(out) != 2 || out[0] != 49 || out[1] == os.Getpid() {
		t.Fatalf("%s; want [49, the pid of a worker's process]", res)
	}
	hash := ownExecutableHash(t)
	stored, err := os.ReadDir(filepath.Join(e.dir, "native", "uploads"))
	if err != nil || len(stored) != 1 || stored[0].Name() != hash {
		t.Fatalf("uploaded executables %v (%v), want %s", stored, err, hash)
	}

	res, err = c.DispatchSync(ct.Lattice(func() []ct.Future {
		return []ct.Future{compiledOnQsim("a"), compiledInterpreted("B"), compiledSquare(3)}
	}))
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{
		`executor "qsim" cannot run ToUpper: an electron of a compiled program runs in the program's own executable, and "qsim" runs no native binaries`,
		"ToLower cannot run interpreted (ct.Interpreted): it comes from a compiled program, which has no source to interpret",
	}
	for i, want := range wants {
		if n := res.Node(i); n.Status != ct.StatusFailed || n.Error != want {
			t.Fatalf("node %d: %s %q, want FAILED %q", i, n.Status, n.Error, want)
		}
	}
	if n := res.Node(2); n.Status != ct.StatusCompleted || string(n.RawOutput) != "9" {
		t.Fatalf("node 2: %s %s %q", n.Status, n.RawOutput, n.Error)
	}

	// A graph whose executable was built for a platform the executors do not run on.
	code, body := request(t, "POST", e.url+"/api/v1/dispatches", `{"graph":{"name":"g","binaries":{"plan9/arm":"`+hash+`"},
		"nodes":[{"node_id":0,"name":"sq","kind":"electron","entry":"x"}],"output":{"node":0}}}`)
	if code != 201 {
		t.Fatalf("dispatch: %d %v", code, body)
	}
	res, err = c.GetResult(body["dispatch_id"].(string), true)
	if err != nil {
		t.Fatal(err)
	}
	want := `executor "pool" cannot run sq: its workers run on ` + executors.Platform + `, and the compiled program that dispatched it was built for plan9/arm (run the program on a machine of the executor's platform)`
	if n := res.Node(0); n.Status != ct.StatusFailed || n.Error != want {
		t.Fatalf("%s %q, want FAILED %q", n.Status, n.Error, want)
	}
}

// A compiled program's dispatch survives a restart of the dispatcher: its graph names the executable, which
// stays uploaded.
func TestCompiledDispatchResumes(t *testing.T) {
	dir := t.TempDir()
	e, stop := startEnv(t, dispatcher.Config{DataDir: dir})
	gate := filepath.Join(t.TempDir(), "gate")
	id, err := e.client().Dispatch(ct.Lattice(func() ct.Future { return compiledAwait(gate) }))
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the electron to start", time.Minute, func() bool {
		res, err := e.client().GetResult(id, false)
		return err == nil && res.Node(0).Status == ct.StatusRunning
	})
	stop()
	e2, _ := startEnv(t, dispatcher.Config{DataDir: dir})
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := e2.client().GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || string(res.RawResult) != `"`+ownExecutableHash(t)+`"` {
		t.Fatalf("after a restart: %v, %v", res, err)
	}
}

// PUT /api/v1/binaries/{sha256} stores an executable whose content has that hash, once; HEAD and GET tell
// whether it is there; a dispatch naming an executable that is not is refused.
func TestBinariesAPI(t *testing.T) {
	e := newEnv(t)
	api := e.url + "/api/v1/binaries/"
	content := "#!/bin/sh\necho not really a Go program\n"
	sum := sha256.Sum256([]byte(content))
	hash := hex.EncodeToString(sum[:])
	other := strings.Repeat("ab", 32)

	for _, c := range []struct {
		name, method, path, body string
		header                   []string
		code                     int
		msg                      string
	}{
		{"not uploaded", "GET", hash, "", nil, 404, "no executable " + hash},
		{"not a hash", "GET", "abc", "", nil, 400, `"abc" is not a sha256`},
		{"upload without the token", "PUT", hash, content, []string{"Authorization", "Bearer nope"}, 401, "missing or wrong token"},
		{"upload under an uppercase hash", "PUT", strings.ToUpper(hash), content, nil, 400, "is not a sha256"},
		{"content of another hash", "PUT", other, content, nil, 400, "the content's sha256 is " + hash + ", not " + other},
		{"upload", "PUT", hash, content, nil, 201, ""},
		{"upload again", "PUT", hash, "ignored", nil, 200, ""},
		{"uploaded", "GET", hash, "", nil, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := request(t, c.method, api+c.path, c.body, c.header...)
			if code != c.code || c.msg != "" && !strings.Contains(body["error"].(string), c.msg) ||
				c.code < 300 && (body["sha256"] != hash || body["size"] != float64(len(content))) {
				t.Fatalf("%d %v, want %d %q", code, body, c.code, c.msg)
			}
		})
	}
	if resp := send(t, "HEAD", api+hash, ""); resp.StatusCode != 200 {
		t.Fatalf("HEAD of an uploaded executable: %d", resp.StatusCode)
	}
	if resp := send(t, "HEAD", api+other, ""); resp.StatusCode != 404 {
		t.Fatalf("HEAD of an executable not uploaded: %d", resp.StatusCode)
	}
	dir := filepath.Join(e.dir, "native", "uploads")
	stored, err := os.ReadDir(dir)
	if err != nil || len(stored) != 1 || stored[0].Name() != hash {
		t.Fatalf("stored %v (%v), want only %s", stored, err, hash)
	}
	for _, p := range []string{dir, filepath.Join(dir, hash)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v, want mode 0700", p, fi.Mode(), err)
		}
	}

	node := `"nodes":[{"node_id":0,"name":"sq","kind":"electron","entry":"x"}],"output":{"node":0}`
	for _, c := range []struct{ name, graph, msg string }{
		{"executable not uploaded", `{"binaries":{"linux/amd64":"` + other + `"},` + node + `}`,
			"the program's executable for linux/amd64 (" + other + ") was not uploaded: PUT it to /api/v1/binaries/" + other + " first"},
		{"executable not named by a hash", `{"binaries":{"linux/amd64":"../x"},` + node + `}`, `the executable for linux/amd64 is named "../x", not by a sha256`},
		{"sublattice", `{"binaries":{"linux/amd64":"` + hash + `"},"nodes":[{"node_id":0,"name":"sub","kind":"sublattice","entry":"x"}]}`,
			"node 0 (sub) is a sublattice, which a compiled program cannot dispatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := request(t, "POST", e.url+"/api/v1/dispatches", `{"graph":`+c.graph+`}`)
			if code != 400 || !strings.Contains(body["error"].(string), c.msg) {
				t.Fatalf("%d %v, want 400 %q", code, body, c.msg)
			}
		})
	}
}
