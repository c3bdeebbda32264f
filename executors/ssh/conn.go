package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dialTimeout bounds a TCP connect and SSH handshake; keepaliveEvery is how often an idle connection is checked,
// so that a task waiting on a dead one notices and re-attaches.
const (
	dialTimeout    = 15 * time.Second
	keepaliveEvery = 15 * time.Second
)

// permanentError is a connection failure that trying again cannot fix (a host key, a refused key).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// remote is what a connection's probe found on the host.
type remote struct {
	platform string // GOOS/GOARCH
	root     string // the remote directory, absolute
}

// conn is one SSH connection; it carries up to maxSessions sessions at once.
type conn struct {
	client   *ssh.Client
	jump     *ssh.Client // nil without a jump host
	sessions int
	dead     bool
	remote   remote
}

func (c *conn) close() {
	c.client.Close()
	if c.jump != nil {
		c.jump.Close()
	}
}

// pool holds the connections to one host: a session goes on a live connection with room, and a new connection
// is dialled when none has. A connection that fails is dropped; the next session dials again.
type pool struct {
	s   *Settings
	cfg *ssh.ClientConfig
	// probe runs once on each new connection: the executor's makes its remote directory; a Client's only reads
	// the platform.
	probe func(*ssh.Client, *Settings) (remote, error)

	mu          sync.Mutex
	conns       []*conn
	closed      bool
	maxSessions int // per connection: max_sessions, or fewer if the server allows fewer
	// dialing serialises dials, so that a burst of tasks opens connections one at a time, each filled first.
	dialing sync.Mutex
}

func newPool(s *Settings) (*pool, error) {
	auth, err := authMethods(s)
	if err != nil {
		return nil, err
	}
	return &pool{s: s, probe: probe, maxSessions: s.MaxSessions, cfg: &ssh.ClientConfig{User: s.User, Auth: auth, Timeout: dialTimeout,
		HostKeyCallback: hostKeyCallback(s.KnownHosts, s.AcceptNewHostKeys)}}, nil
}

// session opens a session, dialling if need be; release gives its room back.
func (p *pool) session(ctx context.Context) (*ssh.Session, *conn, func(), error) {
	for attempt := 0; ; attempt++ {
		c, err := p.conn(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		sess, err := c.client.NewSession()
		if err == nil {
			return sess, c, func() { sess.Close(); p.release(c) }, nil
		}
		p.release(c)
		var open *ssh.OpenChannelError
		if errors.As(err, &open) && attempt < 20 { // the server's MaxSessions is lower than max_sessions: use fewer
			p.mu.Lock()
			p.maxSessions = max(1, c.sessions)
			p.mu.Unlock()
			continue
		}
		p.drop(c)
		if attempt >= 1 {
			return nil, nil, nil, fmt.Errorf("opening an SSH session on %s: %w", p.s.Host, err)
		}
	}
}

// conn returns a live connection with room for a session, taking that room.
func (p *pool) conn(ctx context.Context) (*conn, error) {
	if c := p.take(); c != nil {
		return c, nil
	}
	p.dialing.Lock()
	defer p.dialing.Unlock()
	if c := p.take(); c != nil {
		return c, nil
	}
	var err error
	for attempt, wait := 0, 500*time.Millisecond; attempt < p.s.ConnectAttempts; attempt, wait = attempt+1, min(2*wait, 10*time.Second) {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			case <-time.After(wait):
			}
		}
		var c *conn
		if c, err = p.dial(ctx); err == nil {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.closed {
				c.close()
				return nil, errors.New("the executor is shut down")
			}
			c.sessions = 1
			p.conns = append(p.conns, c)
			go p.keepalive(c)
			return c, nil
		}
		var perm permanentError
		if errors.As(err, &perm) || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func (p *pool) take() *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if !c.dead && c.sessions < p.maxSessions {
			c.sessions++
			return c
		}
	}
	return nil
}

func (p *pool) release(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.sessions--
}

// drop closes a connection that failed; tasks waiting on its sessions see their sessions end.
func (p *pool) drop(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.dead {
		return
	}
	c.dead = true
	c.close()
	for i, x := range p.conns {
		if x == c {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			break
		}
	}
}

func (p *pool) keepalive(c *conn) {
	for {
		time.Sleep(keepaliveEvery)
		p.mu.Lock()
		dead := c.dead
		p.mu.Unlock()
		if dead {
			return
		}
		reply := make(chan error, 1)
		go func() { _, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil); reply <- err }()
		select {
		case err := <-reply:
			if err == nil {
				continue
			}
		case <-time.After(keepaliveEvery):
		}
		p.drop(c)
		return
	}
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		c.dead = true
		c.close()
	}
	p.conns = nil
}

// dial connects (through the jump host, if any) and probes the host.
func (p *pool) dial(ctx context.Context) (*conn, error) {
	addr := net.JoinHostPort(p.s.Host, strconv.Itoa(p.s.Port))
	c := &conn{}
	var err error
	if p.s.Jump == "" {
		c.client, err = p.handshake(ctx, addr, p.cfg, func() (net.Conn, error) {
			return (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, "tcp", addr)
		})
	} else {
		jumpUser, jumpAddr := splitJump(p.s.Jump, p.s.User)
		jcfg := *p.cfg
		jcfg.User = jumpUser
		c.jump, err = p.handshake(ctx, jumpAddr, &jcfg, func() (net.Conn, error) {
			return (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, "tcp", jumpAddr)
		})
		if err != nil {
			return nil, fmt.Errorf("jump host: %w", err)
		}
		c.client, err = p.handshake(ctx, addr, p.cfg, func() (net.Conn, error) { return c.jump.DialContext(ctx, "tcp", addr) })
		if err != nil {
			c.jump.Close()
		}
	}
	if err != nil {
		return nil, err
	}
	if c.remote, err = p.probe(c.client, p.s); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// handshake opens an SSH connection to addr over the connection connect makes.
func (p *pool) handshake(ctx context.Context, addr string, cfg *ssh.ClientConfig, connect func() (net.Conn, error)) (*ssh.Client, error) {
	nc, err := connect()
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	cfg2 := *cfg
	cfg2.HostKeyAlgorithms = knownAlgorithms(p.s.KnownHosts, addr)
	nc.SetDeadline(time.Now().Add(dialTimeout))
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, &cfg2)
	if err != nil {
		nc.Close()
		var hk *hostKeyError
		if errors.As(err, &hk) {
			return nil, permanentError{hk}
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, permanentError{fmt.Errorf("%s refused the keys offered for user %s (%s): %w", addr, cfg.User, describeAuth(p.s), err)}
		}
		return nil, fmt.Errorf("SSH handshake with %s: %w", addr, err)
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// splitJump reads a jump host, [user@]host[:port].
func splitJump(jump, defaultUser string) (user, addr string) {
	user = defaultUser
	if u, h, ok := strings.Cut(jump, "@"); ok {
		user, jump = u, h
	}
	if _, _, err := net.SplitHostPort(jump); err != nil {
		jump = net.JoinHostPort(jump, "22")
	}
	return user, jump
}

// authMethods are the key file's key (or the usual ones in ~/.ssh when none is set) and ssh-agent's keys when
// SSH_AUTH_SOCK is set.
func authMethods(s *Settings) ([]ssh.AuthMethod, error) {
	var methods []ssh.AuthMethod
	var signers []ssh.Signer
	files := []string{s.KeyFile}
	if s.KeyFile == "" {
		home, _ := os.UserHomeDir()
		files = nil
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			if p := filepath.Join(home, ".ssh", name); fileExists(p) {
				files = append(files, p)
			}
		}
	}
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing) && s.KeyFile == "":
			continue // an encrypted default key: its agent may hold it
		case errors.As(err, &missing):
			return nil, fmt.Errorf("key_file %s is encrypted: add it to ssh-agent (ssh-add) and run the dispatcher with SSH_AUTH_SOCK set", f)
		case err != nil:
			return nil, fmt.Errorf("key_file %s: %w", f, err)
		}
		signers = append(signers, signer)
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			c, err := net.Dial("unix", sock)
			if err != nil {
				return nil, fmt.Errorf("ssh-agent at SSH_AUTH_SOCK=%s: %w", sock, err)
			}
			// The connection lives as long as the signers, which sign during this handshake only.
			return agent.NewClient(c).Signers()
		}))
	}
	if len(methods) == 0 {
		return nil, errors.New("no SSH key: set key_file, or run an ssh-agent (SSH_AUTH_SOCK) holding the key")
	}
	return methods, nil
}

func describeAuth(s *Settings) string {
	var parts []string
	if s.KeyFile != "" {
		parts = append(parts, "key_file "+s.KeyFile)
	} else {
		parts = append(parts, "the keys in ~/.ssh")
	}
	if os.Getenv("SSH_AUTH_SOCK") != "" {
		parts = append(parts, "ssh-agent")
	}
	return strings.Join(parts, " and ")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// hostKeyError is a host key that known_hosts does not vouch for.
type hostKeyError struct{ msg string }

func (e *hostKeyError) Error() string { return e.msg }

// knownHostsMu serialises appending to known_hosts files (accept_new_host_keys).
var knownHostsMu sync.Mutex

// hostKeyCallback checks host keys against the known_hosts file: an unknown host is refused unless acceptNew
// (then its key is added to the file, as OpenSSH's StrictHostKeyChecking=accept-new does); a changed key is
// always refused.
func hostKeyCallback(file string, acceptNew bool) ssh.HostKeyCallback {
	return func(hostname string, remoteAddr net.Addr, key ssh.PublicKey) error {
		knownHostsMu.Lock()
		defer knownHostsMu.Unlock()
		check, err := knownhosts.New(file)
		switch {
		case errors.Is(err, os.ErrNotExist) && acceptNew:
			check = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
		case errors.Is(err, os.ErrNotExist):
			return &hostKeyError{fmt.Sprintf("host key of %s not checked: known_hosts file %s does not exist (add the host's key, e.g. ssh-keyscan -p PORT HOST >> %s, or set accept_new_host_keys = true)", hostname, file, file)}
		case err != nil:
			return &hostKeyError{fmt.Sprintf("known_hosts file %s: %v", file, err)}
		}
		err = check(hostname, remoteAddr, key)
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		fingerprint := ssh.FingerprintSHA256(key)
		if len(ke.Want) > 0 {
			return &hostKeyError{fmt.Sprintf("the host key of %s has CHANGED: it is %s %s, and known_hosts %s:%d has another; refusing to connect (if the change is expected, remove the old key with ssh-keygen -R)",
				hostname, key.Type(), fingerprint, ke.Want[0].Filename, ke.Want[0].Line)}
		}
		if !acceptNew {
			return &hostKeyError{fmt.Sprintf("the host key of %s (%s %s) is unknown: it is not in known_hosts %s; refusing to connect (add it with ssh-keyscan, or set accept_new_host_keys = true)",
				hostname, key.Type(), fingerprint, file)}
		}
		f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return &hostKeyError{fmt.Sprintf("adding the host key of %s to %s: %v", hostname, file, err)}
		}
		defer f.Close()
		_, err = fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key))
		return err
	}
}

// knownAlgorithms are the host key algorithms of the keys known_hosts has for addr, so that the server is
// asked for a key that can be checked (nil, the defaults, when it has none).
func knownAlgorithms(file, addr string) []string {
	check, err := knownhosts.New(file)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(check(addr, &net.TCPAddr{}, probeKey{}), &ke) {
		return nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// probeKey matches no known key: checking it lists the keys known for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "govalent-probe" }
func (probeKey) Marshal() []byte                     { return []byte("govalent-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("not a key") }

// exec runs a command in a session of the pool, with stdin, and returns its stdout; stderr goes in the error.
// A cancelled ctx closes the session (an upload stops; nothing exec runs starts a task).
func (p *pool) exec(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	sess, _, release, err := p.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	defer context.AfterFunc(ctx, func() { sess.Close() })()
	return run(sess, cmd, stdin)
}

// run runs a command in sess, with stdin, and returns its stdout; stderr goes in the error.
func run(sess *ssh.Session, cmd string, stdin io.Reader) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, &stdout, &stderr
	if err := sess.Run(cmd); err != nil {
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// probe finds the host's platform and makes the remote directory, absolute, once per connection.
func probe(client *ssh.Client, s *Settings) (remote, error) {
	sess, err := client.NewSession()
	if err != nil {
		return remote{}, err
	}
	defer sess.Close()
	out, err := run(sess, probeScript(s.RemoteDir, *s.RetentionDays), nil)
	if err != nil {
		return remote{}, permanentError{fmt.Errorf("remote directory %s on %s is not usable: %w", s.RemoteDir, s.Host, err)}
	}
	f := strings.SplitN(strings.TrimSpace(string(out)), "\n", 3)
	if len(f) != 3 {
		return remote{}, fmt.Errorf("probing %s: unexpected answer %q", s.Host, out)
	}
	platform, err := goPlatform(f[0], f[1])
	if err != nil {
		return remote{}, permanentError{fmt.Errorf("%s: %w", s.Host, err)}
	}
	return remote{platform: platform, root: f[2]}, nil
}

// goPlatform is GOOS/GOARCH for `uname -s` and `uname -m`.
func goPlatform(kernel, machine string) (string, error) {
	goos := map[string]string{"Linux": "linux", "Darwin": "darwin", "FreeBSD": "freebsd", "OpenBSD": "openbsd", "NetBSD": "netbsd"}[kernel]
	goarch := map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "386", "i686": "386",
		"armv6l": "arm", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64"}[machine]
	if goos == "" || goarch == "" {
		return "", fmt.Errorf("unsupported remote platform: uname says %s %s", kernel, machine)
	}
	return goos + "/" + goarch, nil
}
