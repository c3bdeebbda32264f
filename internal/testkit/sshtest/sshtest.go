// Package sshtest starts a real OpenSSH server (Debian's openssh-server, /usr/sbin/sshd) on a loopback port
// for tests, with a host key and an authorized client key it generates in a temporary directory. A test that
// needs it fails, rather than skips, when sshd is not installed: the tests are meant to run against it.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Server is a running sshd.
type Server struct {
	Host string // 127.0.0.1
	Port int
	User string // the user the tests run as, who may log in with KeyFile
	// KeyFile is an authorized private key (OpenSSH format, unencrypted).
	KeyFile string
	// KnownHosts is a known_hosts file that holds the server's host key.
	KnownHosts string
	HostKey    ssh.PublicKey
	Dir        string // the server's files
}

// Sshd is where Debian's openssh-server installs the daemon; SSHD in the environment overrides it.
func Sshd() string {
	if p := os.Getenv("SSHD"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		return "/usr/sbin/sshd"
	}
	if p, err := exec.LookPath("sshd"); err == nil {
		return p
	}
	return "/usr/sbin/sshd"
}

// Start runs sshd on a free loopback port until the test ends. When the test ends, sshd is stopped and every
// process a session of it left running (sessions' processes carry SSH_CONNECTION naming its port) is killed.
func Start(t testing.TB) *Server { t.Helper(); return StartWith(t, Options{}) }

// Options change what sessions see.
type Options struct {
	// Env are environment variables set in every session (sshd's SetEnv), e.g. a PATH whose first directory
	// holds a fake uname, to play a host of another platform.
	Env map[string]string
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	sshd := Sshd()
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("sshd is not installed (%v): install Debian's openssh-server (apt-get install openssh-server)", err)
	}
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", User: u.Username, Dir: dir, KnownHosts: filepath.Join(dir, "known_hosts")}
	hostKeyFile := filepath.Join(dir, "host_key")
	if s.HostKey, err = WriteKey(hostKeyFile); err != nil {
		t.Fatal(err)
	}
	s.KeyFile = filepath.Join(dir, "client_key")
	clientKey, err := WriteKey(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(clientKey), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory, which a package's service creates.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	// Sessions get a HOME of their own: their shell (bash -c) does not read the test user's dotfiles, whose
	// start-up (a pyenv in ~/.bashrc, say) would be timed as the executor's.
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(strings.Join([]string{
		"HostKey " + hostKeyFile,
		"AuthorizedKeysFile " + authorized,
		"ListenAddress 127.0.0.1",
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"StrictModes no", // the temporary directory's modes are the test's
		"UsePAM no",
		"AllowTcpForwarding yes", // for jump host tests
		"MaxStartups 100",
		"LogLevel ERROR",
		"SetEnv " + setEnv(home, opts.Env),
		"",
	}, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	var log strings.Builder
	for attempt := 0; ; attempt++ { // a port found free may be taken before sshd binds it
		s.Port = freePort(t)
		log.Reset()
		cmd = exec.Command(sshd, "-D", "-e", "-f", conf, "-p", strconv.Itoa(s.Port))
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", sshd, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if up(s.addr(), exited) {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
				s.killSessions()
			})
			break
		}
		cmd.Process.Kill()
		<-exited
		if attempt == 3 {
			t.Fatalf("sshd did not start: %s", log.String())
		}
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr())}, s.HostKey)
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// setEnv is SetEnv's value: HOME, then env's variables, each NAME="VALUE".
func setEnv(home string, env map[string]string) string {
	vars := []string{"HOME=" + strconv.Quote(home)}
	for k, v := range env {
		vars = append(vars, k+"="+strconv.Quote(v))
	}
	return strings.Join(vars, " ")
}

func (s *Server) addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Addr is host:port.
func (s *Server) Addr() string { return s.addr() }

// up waits until addr accepts connections, or sshd exits.
func up(addr string, exited <-chan struct{}) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WriteKey writes a new ed25519 private key to path (OpenSSH format, mode 0600) and returns its public key.
func WriteKey(path string) (ssh.PublicKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "govalent-test")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	return signer.PublicKey(), nil
}

// Sessions are the processes that sessions of this server started and that still run (those that detached
// with setsid included), by pid.
func (s *Server) Sessions() []int {
	marker := []byte(fmt.Sprintf(" %d\x00", s.Port)) // SSH_CONNECTION="client port server PORT"
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, v := range strings.SplitAfter(string(env), "\x00") {
			if strings.HasPrefix(v, "SSH_CONNECTION=") && strings.HasSuffix(v, string(marker)) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// killSessions kills what sessions left running: a task an executor left for adoption outlives the test.
func (s *Server) killSessions() {
	for _, pid := range s.Sessions() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
