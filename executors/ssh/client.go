package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Login is how to reach a host: the ssh executor's settings of these names, with their meanings and defaults,
// for another executor that works through a host over SSH (the slurm executor through a cluster's login node).
type Login struct {
	Host              string `json:"host"`
	Port              int    `json:"port"`
	User              string `json:"user"`
	KeyFile           string `json:"key_file"`
	KnownHosts        string `json:"known_hosts"`
	AcceptNewHostKeys bool   `json:"accept_new_host_keys"`
	Jump              string `json:"jump"`
}

// Client runs commands on a host over the ssh executor's connections: its pool (sessions shared on few
// connections, keepalives, reconnects with backoff), its authentication and its host key checks.
type Client struct {
	pool *pool
	// Login is the login with its defaults filled in (port 22, the current user, ~ expanded).
	Login Login
}

// NewClient checks the login (name is the executor's, for errors) and makes a client; it connects at its
// first command.
func NewClient(name string, l Login) (*Client, error) {
	s := Settings{Login: l}
	if err := (&Executor{name: name}).fill(&s); err != nil {
		return nil, err
	}
	p, err := newPool(&s)
	if err != nil {
		return nil, fmt.Errorf("executor %s: %w", name, err)
	}
	p.probe = probePlatform
	return &Client{pool: p, Login: s.Login}, nil
}

// probePlatform finds the host's platform.
func probePlatform(client *ssh.Client, s *Settings) (remote, error) {
	sess, err := client.NewSession()
	if err != nil {
		return remote{}, err
	}
	defer sess.Close()
	out, err := run(sess, "uname -s; uname -m", nil)
	if err != nil {
		return remote{}, fmt.Errorf("uname on %s: %w", s.Host, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return remote{}, fmt.Errorf("uname on %s: unexpected answer %q", s.Host, out)
	}
	platform, err := goPlatform(f[0], f[1])
	if err != nil {
		return remote{}, permanentError{fmt.Errorf("%s: %w", s.Host, err)}
	}
	return remote{platform: platform}, nil
}

// Platform is the host's GOOS/GOARCH, from uname.
func (c *Client) Platform(ctx context.Context) (string, error) {
	conn, err := c.pool.conn(ctx)
	if err != nil {
		return "", c.connectError(err)
	}
	c.pool.release(conn)
	return conn.remote.platform, nil
}

// Run runs cmd (a command line for the login shell) with stdin and returns what it wrote on stdout and
// stderr. A command that ran and failed gives an *ssh.ExitError (golang.org/x/crypto/ssh); one that could not
// run, a connection error. Ending ctx closes the session.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (stdout, stderr []byte, err error) {
	sess, _, release, err := c.pool.session(ctx)
	if err != nil {
		return nil, nil, c.connectError(err)
	}
	defer release()
	defer context.AfterFunc(ctx, func() { sess.Close() })()
	var out, errOut bytes.Buffer
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, &out, &errOut
	err = sess.Run(cmd)
	return out.Bytes(), errOut.Bytes(), err
}

func (c *Client) connectError(err error) error {
	return fmt.Errorf("%s@%s:%d: %w", c.Login.User, c.Login.Host, c.Login.Port, err)
}

// Close closes the connections.
func (c *Client) Close() { c.pool.close() }

// Quote makes s one word for sh.
func Quote(s string) string { return quote(s) }

// Permanent tells whether err is a failure to connect that trying again cannot mend: a host key known_hosts
// does not vouch for, keys the host refuses, a platform Go does not support.
func Permanent(err error) bool {
	var perm permanentError
	return errors.As(err, &perm)
}
