package slurmtest

import (
	"fmt"
	"io"
	"net/http"
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
	url, token, err := c.REST()
	if err != nil {
		t.Fatal(err)
	}
	// slurmrestd answers a request with the token, and refuses one without.
	for _, tok := range []string{token, ""} {
		req, _ := http.NewRequest("GET", url+"/slurm/v0.0.38/ping", nil)
		req.Header.Set("X-SLURM-USER-NAME", "root")
		req.Header.Set("X-SLURM-USER-TOKEN", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ok := resp.StatusCode == http.StatusOK; ok != (tok != "") {
			t.Fatalf("ping with token %q: %s: %s", tok, resp.Status, body)
		}
	}
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
	if !seen["slurmctld"] || !seen["slurmd"] || !seen["slurmrestd"] {
		t.Fatalf("want slurmctld, slurmd and slurmrestd listening, found %v", socks)
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
	if found < 3 {
		t.Errorf("ss shows %d listening sockets of the cluster's daemons, want at least 3:\n%s", found, out)
	}
}
