package slurmtest

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The cluster's daemons listen on loopback only (house rule for tests): checked from /proc, and with ss, which
// reads the kernel's socket table another way.
func TestDaemonsListenOnLoopbackOnly(t *testing.T) {
	c, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	socks, err := c.Listening()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range socks {
		t.Logf("%s listens on %s", s.Daemon, s.Addr)
		seen[s.Daemon] = true
		if !s.Addr.Addr().IsLoopback() {
			t.Errorf("%s listens on %s, not a loopback address", s.Daemon, s.Addr)
		}
	}
	if !seen["slurmctld"] || !seen["slurmd"] {
		t.Fatalf("want slurmctld and slurmd listening, found %v", socks)
	}
	out, err := exec.Command("ss", "-Hltnp").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	found := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !slices.ContainsFunc(c.procs, func(p *exec.Cmd) bool { return strings.Contains(f[5], fmt.Sprintf("pid=%d,", p.Process.Pid)) }) {
			continue // another process's, perhaps another test's cluster
		}
		found++
		if local := f[3]; !strings.HasPrefix(local, "127.") && !strings.HasPrefix(local, "[::1]") {
			t.Errorf("ss: a daemon of the cluster listens on %s: %s", local, line)
		}
	}
	if found < 2 {
		t.Errorf("ss shows %d listening sockets of the cluster's daemons, want at least 2:\n%s", found, out)
	}
}
