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
	alive := func(pid int) bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// gone, or a zombie that its new parent has not reaped yet
		return err == nil && !strings.Contains(string(stat), ") Z ")
	}
	time.Sleep(2 * time.Second) // it runs while its frontend does
	if !alive(kernelPID) {
		t.Fatal("the kernel exited while its frontend was running")
	}
	evaluator := childOf(t, kernelPID)
	t.Cleanup(func() { syscall.Kill(evaluator, syscall.SIGKILL) })
	frontend.Process.Kill()
	frontend.Wait()
	wait.For(t, "the orphaned kernel to exit", 15*time.Second, func() bool { return !alive(kernelPID) })
	wait.For(t, "the kernel's evaluator to exit", 15*time.Second, func() bool { return !alive(evaluator) })
}

// childOf returns the pid of the one child process of pid (the kernel's evaluator).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var children []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so fields are counted after its closing parenthesis
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(f, "/stat"), "/proc/"))
			children = append(children, child)
		}
	}
	if len(children) != 1 {
		t.Fatalf("the kernel %d has children %v; want one, its evaluator", pid, children)
	}
	return children[0]
}
