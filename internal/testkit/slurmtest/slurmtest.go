// Package slurmtest starts a real one-node Slurm cluster for tests: its own munged (key and socket in a
// temporary directory), slurmctld and slurmd in the foreground, with a generated slurm.conf whose controller
// and node talk over loopback on free ports. The daemons listen on loopback only: by default Slurm binds to
// every address, and CommunicationParameters=NoCtldInAddrAny,NoInAddrAny makes them bind to the address this
// machine's host name resolves to instead, which must be a loopback one (Debian's /etc/hosts maps it to
// 127.0.1.1); Start checks both and refuses to run a cluster reachable from the network. It needs Debian's slurm-wlm and munge, and root (slurmd runs jobs
// as the submitting user, and the tests submit as root). There is no slurmdbd, so sacct has nothing to read:
// jobs are followed with squeue and scontrol, which the controller answers from memory.
package slurmtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/internal/testkit/sshtest"
)

// Partition is the cluster's one (default) partition.
const Partition = "debug"

// Options shape the cluster.
type Options struct {
	// CPUs the node offers (default 2). More than the machine has is allowed (slurmd's config_overrides), so that
	// a benchmark can run more jobs at once than there are cores.
	CPUs int
}

// Cluster is a running cluster; its commands find it through SLURM_CONF (Env, or Main's os.Setenv).
type Cluster struct {
	Dir  string // temporary directory holding the configuration, state, logs and munge's socket
	Conf string // slurm.conf
	Node string // the node's name (this machine's short host name)

	bin   map[string]string // the commands' paths, found at Start: a test may change PATH
	procs []*exec.Cmd
	rest  string // slurmrestd's address, once started (REST)
	// CPU is the CPU time each daemon used ("slurmctld", "slurmd", "munged"), known once the cluster is stopped.
	CPU map[string]time.Duration
}

// commands are what the cluster needs on PATH.
var commands = []string{"munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo"}

// Start starts a cluster and waits (at most a minute) until its node takes jobs. On an error nothing is left
// running.
func Start(opts Options) (_ *Cluster, err error) {
	var missing []string
	bin := map[string]string{}
	for _, c := range commands {
		if p, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		} else {
			bin[c] = p
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("slurmtest: %s not found: install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge)", strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("slurmtest: the test cluster runs as root (slurmd runs jobs as the submitting user)")
	}
	if opts.CPUs <= 0 {
		opts.CPUs = 2
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	addr, err := loopbackAddr(host)
	if err != nil {
		return nil, err
	}
	host, _, _ = strings.Cut(host, ".")
	dir, err := os.MkdirTemp("", "slurmtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), Node: host, bin: bin}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	// munged wants its socket's directory open to all, and its key readable by its owner only.
	munge := filepath.Join(dir, "munge")
	for _, d := range []string{dir, munge, filepath.Join(dir, "state"), filepath.Join(dir, "spool"), filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, err
		}
	}
	// The key slurmctld signs and checks JSON web tokens with (scontrol token), for slurmrestd's clients.
	jwtKey := make([]byte, 64)
	rand.Read(jwtKey)
	if err := os.WriteFile(filepath.Join(dir, "jwt.key"), jwtKey, 0o600); err != nil {
		return nil, err
	}
	key := filepath.Join(munge, "munge.key")
	if out, err := exec.Command("mungekey", "--create", "--keyfile", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slurmtest: mungekey: %v: %s", err, out)
	}
	socket := filepath.Join(munge, "munge.socket")
	if err := c.start("munged", "--foreground", "--socket="+socket, "--key-file="+key, "--pid-file="+filepath.Join(munge, "munged.pid"),
		"--seed-file="+filepath.Join(munge, "munged.seed"), "--log-file="+filepath.Join(dir, "log", "munged.log")); err != nil {
		return nil, err
	}
	if err := waitFor(10*time.Second, func() error { _, err := os.Stat(socket); return err }); err != nil {
		return nil, fmt.Errorf("slurmtest: munged did not create its socket: %w; log: %s", err, c.log("munged.log"))
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`# written by slurmtest
ClusterName=govalenttest
SlurmctldHost=%[1]s(%[8]s)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[5]s
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=%[2]s/jwt.key
StateSaveLocation=%[2]s/state
SlurmdSpoolDir=%[2]s/spool
SlurmctldPidFile=%[2]s/slurmctld.pid
SlurmdPidFile=%[2]s/slurmd.pid
SlurmctldLogFile=%[2]s/log/slurmctld.log
SlurmdLogFile=%[2]s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=100
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MaxArraySize=10001
MaxJobCount=100000
NodeName=%[1]s NodeAddr=%[8]s CPUs=%[6]d RealMemory=2000 State=UNKNOWN
PartitionName=%[7]s Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, dir, ports[0], ports[1], socket, opts.CPUs, Partition, addr)
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := c.start("slurmctld", "-D", "-i", "-f", c.Conf); err != nil {
		return nil, err
	}
	if err := c.start("slurmd", "-D", "-f", c.Conf); err != nil {
		return nil, err
	}
	err = waitFor(time.Minute, func() error {
		out, err := c.Command(context.Background(), "sinfo", "-h", "-o", "%T").CombinedOutput()
		if state := strings.TrimSpace(string(out)); err != nil || state != "idle" {
			return fmt.Errorf("node state %q (%v)", state, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("slurmtest: the node did not come up: %w\nslurmctld log: %s\nslurmd log: %s", err, c.log("slurmctld.log"), c.log("slurmd.log"))
	}
	listening, err := c.Listening()
	if err != nil {
		return nil, err
	}
	for _, l := range listening {
		if !l.Addr.Addr().IsLoopback() {
			return nil, fmt.Errorf("slurmtest: %s listens on %s, not on loopback only", l.Daemon, l.Addr)
		}
	}
	return c, nil
}

// loopbackAddr is the address host resolves to, which Slurm's daemons bind to (NoInAddrAny resolves the host
// name): it must be a loopback one.
func loopbackAddr(host string) (string, error) {
	addrs, err := net.LookupHost(host)
	if err != nil {
		return "", fmt.Errorf("slurmtest: resolving this machine's host name: %w", err)
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil && ip.IsLoopback() {
			return a, nil
		}
	}
	return "", fmt.Errorf("slurmtest: this machine's host name %s resolves to %v, no IPv4 loopback address: Slurm's daemons bind to what it resolves to, and the test cluster must not be reachable from the network (map it to 127.0.1.1 in /etc/hosts, as Debian does)", host, addrs)
}

// Socket is a TCP socket a daemon of the cluster listens on.
type Socket struct {
	Daemon string // "slurmctld", "slurmd"
	Addr   netip.AddrPort
}

// Listening lists the TCP sockets the cluster's daemons listen on, from /proc: each daemon's socket inodes
// (/proc/PID/fd) looked up in the kernel's table of listening sockets (/proc/net/tcp, tcp6).
func (c *Cluster) Listening() ([]Socket, error) {
	listen := map[string]netip.AddrPort{} // by inode
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			ap, err := procAddr(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", table, err)
			}
			listen[f[9]] = ap
		}
	}
	var socks []Socket
	for _, p := range c.procs {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Process.Pid))
		if err != nil {
			return nil, err
		}
		for _, fd := range fds {
			link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p.Process.Pid, fd.Name()))
			inode, ok := strings.CutPrefix(link, "socket:[")
			if ap, listening := listen[strings.TrimSuffix(inode, "]")]; ok && listening {
				socks = append(socks, Socket{Daemon: filepath.Base(p.Path), Addr: ap})
			}
		}
	}
	return socks, nil
}

// procAddr reads an address of /proc/net/tcp ("0100007F:1F90"; the address's 32-bit words in host order, which
// is little-endian on every platform the tests run on).
func procAddr(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(hexAddr)
	port, perr := strconv.ParseUint(hexPort, 16, 16)
	if err != nil || perr != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("unreadable address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// Main starts a cluster, points the Slurm commands at it (SLURM_CONF) for the whole test binary, builds the
// runner (BuildRunner) into its directory, runs the tests and stops the cluster; call it from a package's
// TestMain. A cluster that cannot start fails the run with the reason.
func Main(m *testing.M, c **Cluster, runner *string) {
	cl, err := Start(Options{})
	if err == nil {
		*runner, err = BuildRunner(cl.Dir)
	}
	if err != nil {
		if cl != nil {
			cl.Stop()
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*c = cl
	os.Setenv("SLURM_CONF", cl.Conf)
	code := m.Run()
	cl.Stop()
	os.Exit(code)
}

// Env is the environment the Slurm commands need to reach the cluster.
func (c *Cluster) Env() []string { return []string{"SLURM_CONF=" + c.Conf} }

// Command makes a Slurm command (sbatch, squeue...) aimed at the cluster.
func (c *Cluster) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if p := c.bin[name]; p != "" {
		name = p
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), c.Env()...)
	return cmd
}

// Run runs a Slurm command with a bound of 30 s and returns its standard output.
func (c *Cluster) Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := c.Command(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Queue lists the jobs the controller holds that have not ended ("123_4 RUNNING"), one a line.
func (c *Cluster) Queue() ([]string, error) {
	out, err := c.Run("squeue", "-h", "-r", "-o", "%i %T")
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(out), " ", "=")), err
}

// Job is the controller's description of a job (scontrol show job), by field: "JobState", "TimeLimit"...
func (c *Cluster) Job(id string) (map[string]string, error) {
	out, err := c.Run("scontrol", "-o", "show", "job", id)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(strings.SplitN(out, "\n", 2)[0]) {
		if k, v, ok := strings.Cut(f, "="); ok {
			fields[k] = v
		}
	}
	return fields, nil
}

// CancelAll cancels every job and waits (at most 30 s) until none is left, so that the next test starts on an
// idle node.
func (c *Cluster) CancelAll() error {
	if _, err := c.Run("scancel", "--full", "--user=root"); err != nil {
		return err
	}
	return waitFor(30*time.Second, func() error {
		q, err := c.Queue()
		if err == nil && len(q) > 0 {
			err = fmt.Errorf("jobs left: %v", q)
		}
		return err
	})
}

// Stop cancels the jobs left, stops the daemons and removes the directory.
func (c *Cluster) Stop() {
	if len(c.procs) >= 3 {
		c.CancelAll()
	}
	c.CPU = map[string]time.Duration{}
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.Process.Kill()
		p.Wait()
		c.CPU[filepath.Base(p.Path)] = p.ProcessState.UserTime() + p.ProcessState.SystemTime()
	}
	c.procs = nil
	os.RemoveAll(c.Dir)
}

// start starts a daemon in the foreground, its output in log/NAME.out.
func (c *Cluster) start(name string, args ...string) error { return c.startEnv(nil, name, args...) }

// startEnv starts a daemon with env added to its environment.
func (c *Cluster) startEnv(env []string, name string, args ...string) error {
	out, err := os.Create(filepath.Join(c.Dir, "log", name+".out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(append(os.Environ(), c.Env()...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no daemon outlives a test binary that crashed
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("slurmtest: starting %s: %w", name, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// log is the tail of one of the cluster's logs, for error messages.
func (c *Cluster) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "log", name))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePorts finds n free TCP ports on loopback.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitFor calls check every 100 ms until it returns nil or limit passes; it returns check's last error then.
func waitFor(limit time.Duration, check func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond) // the daemons have no readiness event to wait on
	}
}

// BuildRunner builds the runner the tests' jobs run (package runner: `worker --once --task FILE`) into dir.
func BuildRunner(dir string) (string, error) {
	path := filepath.Join(dir, "govalent-runner")
	out, err := exec.Command("go", "build", "-o", path, "github.com/govalent/govalent/internal/testkit/slurmtest/runner").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the runner: %v: %s", err, out)
	}
	return path, nil
}

// Calls puts a wrapper of the command name first on PATH for the rest of the test, and returns a function
// that lists its calls so far, the arguments of each as one line.
func Calls(t *testing.T, name string) func() []string {
	t.Helper()
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	if err := wrap(dir, name, fmt.Sprintf("echo \"$*\" >> '%s'", calls)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() []string { return readLines(calls) }
}

// wrap writes dir/name, a script that runs before (sh) and then the command name found on PATH now.
func wrap(dir, name, before string) error {
	real, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	script := fmt.Sprintf("#!/bin/sh\n%s\nexec '%s' \"$@\"\n", before, real)
	return os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755)
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")[:bytes.Count(b, []byte("\n"))]
}

// slurmCommands are the commands an executor runs on a login node.
var slurmCommands = []string{"sbatch", "squeue", "scancel", "scontrol", "sinfo", "sacct"}

// LoginNode is an OpenSSH server on loopback (sshtest) whose sessions reach the cluster as a login node's do:
// SLURM_CONF is set in them, and their PATH starts with wrappers of the Slurm commands that record each call.
type LoginNode struct {
	*sshtest.Server
	calls string
}

// LoginNode starts a login node of the cluster for the rest of the test.
func (c *Cluster) LoginNode(t testing.TB) *LoginNode {
	t.Helper()
	dir := t.TempDir()
	l := &LoginNode{calls: filepath.Join(dir, "calls")}
	for _, name := range slurmCommands {
		if err := wrap(dir, name, fmt.Sprintf("echo \"%s $*\" >> '%s'", name, l.calls)); err != nil {
			t.Fatal(err)
		}
	}
	l.Server = sshtest.StartWith(t, sshtest.Options{Env: map[string]string{"SLURM_CONF": c.Conf, "PATH": dir + ":/usr/local/bin:/usr/bin:/bin"}})
	return l
}

// Settings are the slurm executor's settings that reach the cluster through the login node.
func (l *LoginNode) Settings() map[string]any {
	return map[string]any{"host": l.Host, "port": l.Port, "user": l.User, "key_file": l.KeyFile, "known_hosts": l.KnownHosts}
}

// Calls are the calls of the Slurm command name made on the login node so far, the arguments of each as a line.
func (l *LoginNode) Calls(name string) []string {
	var calls []string
	for _, line := range readLines(l.calls) {
		if args, ok := strings.CutPrefix(line, name+" "); ok {
			calls = append(calls, args)
		}
	}
	return calls
}

// NoLocalCommands puts first on PATH, for the rest of the test, Slurm commands that fail saying they should
// not have run here: the executor must run them on the login node, or not at all (through slurmrestd).
func NoLocalCommands(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range slurmCommands {
		script := fmt.Sprintf("#!/bin/sh\necho '%s was run on the dispatcher'\"'\"'s machine' >&2\nexit 127\n", name)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// REST starts slurmrestd for the cluster, once, on a free port of 127.0.0.1, and returns its URL and a JSON web
// token for root (scontrol token, valid for an hour). slurmrestd refuses to run as root: it serves requests as
// nobody, authenticating each by its token (rest_auth/jwt), and talks to slurmctld with that token
// (SLURM_JWT=daemon; the cluster accepts auth/jwt beside munge). It serves OpenAPI v0.0.38 only: the slurmdbd
// plugins would need a slurmdbd. It needs Debian's slurmrestd.
func (c *Cluster) REST() (url, token string, err error) {
	if c.rest == "" {
		if _, err := exec.LookPath("slurmrestd"); err != nil {
			return "", "", errors.New("slurmtest: slurmrestd not found: install Debian's slurmrestd (apt-get install slurmrestd)")
		}
		ports, err := freePorts(1)
		if err != nil {
			return "", "", err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		if err := c.startEnv([]string{"SLURM_JWT=daemon"}, "slurmrestd", "-f", c.Conf, "-a", "rest_auth/jwt", "-s", "openapi/v0.0.38", "-u", "nobody", "-g", "nogroup", addr); err != nil {
			return "", "", err
		}
		err = waitFor(30*time.Second, func() error {
			conn, err := net.Dial("tcp", addr)
			if err == nil {
				conn.Close()
			}
			return err
		})
		if err != nil {
			return "", "", fmt.Errorf("slurmtest: slurmrestd did not listen on %s: %w; its output: %s", addr, err, c.log("slurmrestd.out"))
		}
		c.rest = "http://" + addr
	}
	out, err := c.Run("scontrol", "token", "username=root", "lifespan=3600")
	if err != nil {
		return "", "", err
	}
	token, ok := strings.CutPrefix(strings.TrimSpace(out), "SLURM_JWT=")
	if !ok {
		return "", "", fmt.Errorf("slurmtest: scontrol token answered %q", out)
	}
	return c.rest, token, nil
}
