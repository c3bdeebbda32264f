package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A Go program built with `go build` dispatches its own electrons (examples/compiled) to a dispatcher started by
// `govalent start`: its executable is uploaded before its first dispatch and not again, and its electrons run in
// the dispatcher's copy of it, named by its sha256.
func TestCompiledProgramDispatchesItsOwnElectrons(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	flags := []string{"--data-dir", dir, "--port", strconv.Itoa(port)}
	if out, err := govalent(t, nil, append([]string{"start"}, flags...)...); err != nil || !strings.Contains(out, "started at") {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { govalent(t, nil, append([]string{"stop"}, flags...)...) })

	prog := filepath.Join(t.TempDir(), "sumsquares")
	if out, err := exec.Command("go", "build", "-o", prog, "../../examples/compiled").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])

	for run, uploads := range []bool{true, false} {
		cmd := exec.Command(prog, "10")
		cmd.Env = append(os.Environ(), "GOVALENT_DISPATCHER=http://127.0.0.1:"+strconv.Itoa(port))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %d: %v\nstdout:\n%s\nstderr:\n%s", run, err, &stdout, &stderr)
		}
		if !strings.Contains(stdout.String(), "sum of squares 1..10 = 385 ") || !strings.Contains(stdout.String(), "electrons ran in executable "+hash+")") {
			t.Fatalf("run %d printed:\n%s\nwant the sum, 385, from electrons run in executable %s", run, &stdout, hash)
		}
		if got := strings.Contains(stderr.String(), "uploading this program's executable"); got != uploads {
			t.Fatalf("run %d uploaded the executable: %v, want %v; stderr:\n%s", run, got, uploads, &stderr)
		}
	}
	stored, err := os.ReadDir(filepath.Join(dir, "native", "uploads"))
	if err != nil || len(stored) != 1 || stored[0].Name() != hash {
		t.Fatalf("the dispatcher holds %v (%v), want the one executable %s", stored, err, hash)
	}
	if fi, err := os.Stat(filepath.Join(dir, "native", "uploads", hash)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("stored executable: %v, %v; want mode 0700", fi.Mode(), err)
	}
}
