package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/internal/testkit/wait"
)

// A kernel whose frontend dies exits too, as ipykernel does, rather than being left running as an orphan.
func TestKernelExitsWithItsParent(t *testing.T) {
	conn := filepath.Join(t.TempDir(), "kernel.json")
	ci := map[string]any{"transport": "tcp", "ip": "127.0.0.1", "key": "k", "signature_scheme": "hmac-sha256",
		"shell_port": freePort(t), "control_port": freePort(t), "stdin_port": freePort(t), "iopub_port": freePort(t), "hb_port": freePort(t)}
	b, _ := json.Marshal(ci)
	if err := os.WriteFile(conn, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The frontend: a shell that starts the kernel, says its pid and waits.
	frontend := exec.Command("bash", "-c", fmt.Sprintf("%q kernel -f %q & echo $!; wait", binary, conn))
	out, err := frontend.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := frontend.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	kernelPID, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("the kernel's pid: %q %v %v", line, err, perr)
	}
	t.Cleanup(func() { syscall.Kill(kernelPID, syscall.SIGKILL) })
	alive := func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", kernelPID))
		// gone, or a zombie that its new parent has not reaped yet
		return err == nil && !strings.Contains(string(stat), ") Z ")
	}
	time.Sleep(2 * time.Second) // it runs while its frontend does
	if !alive() {
		t.Fatal("the kernel exited while its frontend was running")
	}
	frontend.Process.Kill()
	frontend.Wait()
	wait.For(t, "the orphaned kernel to exit", 15*time.Second, func() bool { return !alive() })
}
