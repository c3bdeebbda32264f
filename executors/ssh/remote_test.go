package ssh

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A task that writes its status and exits while watchScript looks at it is attached to, not taken for killed
// (which ran it a second time after a restart). A cat on PATH makes the task end exactly between the script's
// checks: reading the pid file, it writes the status and prints the pid of a process that has exited.
func TestWatchAttachesToATaskEndingMeanwhile(t *testing.T) {
	node, bin := t.TempDir(), t.TempDir()
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"task_id": "d/1/1\n", "mode": "pipe\n", "pid": "running\n", "reply": "", "stdout": "", "stderr": ""} {
		if err := os.WriteFile(filepath.Join(node, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	realCat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	fakeCat := "#!/bin/sh\nif [ \"$1\" = pid ]; then echo 0 > status; echo " + strconv.Itoa(exited.Process.Pid) + "; exit 0; fi\nexec " + realCat + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "cat"), []byte(fakeCat), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", watchScript(node))
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(out), "\n"); first != "attached d/1/1" {
		t.Fatalf("watching a task that ended meanwhile printed %q", out)
	}
	br := strings.NewReader(strings.SplitN(string(out), "\n", 2)[1])
	if end, err := readTail(bufio.NewReader(br)); err != nil || end.lost || end.code != 0 {
		t.Fatalf("how the task ended: %+v %v", end, err)
	}
}
