package slurm

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	xssh "golang.org/x/crypto/ssh"

	sshexec "github.com/govalent/govalent/executors/ssh"
	"github.com/govalent/govalent/native"
)

// site is where the executor's directory and the Slurm commands are: this machine (whose file system the
// nodes share), or a login node of the cluster over SSH (whose file system they share).
type site interface {
	// command runs a Slurm command; stderr is what it said when it failed.
	command(ctx context.Context, name string, args []string) (stdout, stderr string, err error)
	// read reads a file; a missing one is fs.ErrNotExist.
	read(ctx context.Context, path string) ([]byte, error)
	// write removes the paths in remove (and what they hold), then writes each file atomically, in order,
	// making its directory (0700) when missing.
	write(ctx context.Context, remove []string, files ...file) error
	// readAll reads files: data[i] is paths[i]'s, or nil with errs[i] fs.ErrNotExist when it is missing.
	readAll(ctx context.Context, paths []string) (data [][]byte, errs []error, err error)
	exists(ctx context.Context, path string) (bool, error)
	// copyIn copies the local file src to dst (mode 0700), atomically.
	copyIn(ctx context.Context, dst, src string) error
	// tail is the end of a file, at most n bytes ("" when it cannot be read).
	tail(ctx context.Context, path string, n int) string
	// ownDir makes dir, or checks the one there: the user's alone, since jobs run what it holds.
	ownDir(ctx context.Context, dir string) error
}

// settingsError is a failure that the executor's settings must mend (a directory others can write, a runner
// for another platform), not a retry.
type settingsError struct{ error }

func (e settingsError) Unwrap() error { return e.error }

type file struct {
	path string
	data []byte
	mode os.FileMode
}

// local is this machine.
type local struct{}

var execCommand = exec.CommandContext

func (local) command(ctx context.Context, name string, args []string) (string, string, error) {
	cmd := execCommand(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return string(out), stderr.String(), err
}

func (local) read(_ context.Context, path string) ([]byte, error) { return os.ReadFile(path) }

func (local) write(_ context.Context, remove []string, files ...file) error {
	for _, p := range remove {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
			return err
		}
		if err := writeAtomic(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func (l local) readAll(ctx context.Context, paths []string) ([][]byte, []error, error) {
	data, errs := make([][]byte, len(paths)), make([]error, len(paths))
	for i, p := range paths {
		data[i], errs[i] = l.read(ctx, p)
	}
	return data, errs, nil
}

func (local) exists(_ context.Context, path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (local) copyIn(_ context.Context, dst, src string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o700)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func (local) tail(_ context.Context, path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, st.Size()-int64(n))
	buf := make([]byte, st.Size()-off)
	k, _ := f.ReadAt(buf, off)
	return string(buf[:k])
}

func (local) ownDir(_ context.Context, dir string) error { return native.OwnDir(dir) }

// overSSH is a login node of the cluster, reached with the ssh executor's connections. Its side needs POSIX sh
// and the usual tools (cat, mkdir, mv, rm, chmod, tail, ls, id, wc, base64).
type overSSH struct{ c *sshexec.Client }

var q = sshexec.Quote

// run runs a script in sh on the host, from stdin (so that its size is not bounded by the command line's).
func (s overSSH) run(ctx context.Context, script string) ([]byte, error) {
	out, stderr, err := s.c.Run(ctx, "sh -s", strings.NewReader("umask 077\n"+script))
	if err != nil {
		err = &remoteError{err: err, stderr: strings.TrimSpace(string(stderr))}
	}
	return out, err
}

// remoteError is a script that failed on the login node: what it said, or else how it failed.
type remoteError struct {
	err    error
	stderr string
}

func (e *remoteError) Error() string {
	if e.stderr != "" {
		return e.stderr
	}
	return e.err.Error()
}

func (e *remoteError) Unwrap() error { return e.err }

func (s overSSH) command(ctx context.Context, name string, args []string) (string, string, error) {
	line := q(name)
	for _, a := range args {
		line += " " + q(a)
	}
	out, stderr, err := s.c.Run(ctx, line, nil)
	return string(out), string(stderr), err
}

// missingStatus is the exit status of read's script for a missing file.
const missingStatus = 3

func (s overSSH) read(ctx context.Context, path string) ([]byte, error) {
	out, err := s.run(ctx, fmt.Sprintf("test -e %[1]s || exit %[2]d\ncat %[1]s\n", q(path), missingStatus))
	var exit *xssh.ExitError
	if errors.As(err, &exit) && exit.ExitStatus() == missingStatus {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return out, err
}

func (s overSSH) write(ctx context.Context, remove []string, files ...file) error {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, p := range remove {
		b.WriteString("rm -rf " + q(p) + "\n")
	}
	for i, f := range files {
		// Each file's content in a here-document, as base64: any bytes, no end marker to collide with.
		tmp := q(fmt.Sprintf("%s.tmp.%d.", f.path, i)) + "$$"
		fmt.Fprintf(&b, "mkdir -p %s\nbase64 -d > %s <<'EOF'\n%s\nEOF\nchmod %o %s\nmv -f %s %s\n",
			q(filepath.Dir(f.path)), tmp, base64Lines(f.data), f.mode, tmp, tmp, q(f.path))
	}
	_, err := s.run(ctx, b.String())
	return err
}

// readAll prints, for each path, its size on a line and then its content, or "-" for a missing file. (The
// files it reads are written once, atomically: a size and the content after it agree.)
func (s overSSH) readAll(ctx context.Context, paths []string) ([][]byte, []error, error) {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "if [ -f %[1]s ]; then wc -c < %[1]s && cat %[1]s; else echo -; fi\n", q(p))
	}
	out, err := s.run(ctx, b.String())
	if err != nil {
		return nil, nil, err
	}
	data, errs := make([][]byte, len(paths)), make([]error, len(paths))
	for i, p := range paths {
		line, rest, ok := bytes.Cut(out, []byte("\n"))
		if !ok {
			return nil, nil, fmt.Errorf("reading %d files on %s: the answer ended early", len(paths), s.c.Login.Host)
		}
		if string(line) == "-" {
			errs[i], out = fmt.Errorf("%s: %w", p, fs.ErrNotExist), rest
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(line)))
		if err != nil || n < 0 || n > len(rest) {
			return nil, nil, fmt.Errorf("reading %d files on %s: unexpected answer %q", len(paths), s.c.Login.Host, line)
		}
		data[i], out = rest[:n], rest[n:]
	}
	return data, errs, nil
}

func (s overSSH) exists(ctx context.Context, path string) (bool, error) {
	out, err := s.run(ctx, "if test -e "+q(path)+"; then echo yes; else echo no; fi\n")
	return strings.TrimSpace(string(out)) == "yes", err
}

func (s overSSH) copyIn(ctx context.Context, dst, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	tmp := q(dst+".tmp.") + "$$"
	script := fmt.Sprintf("umask 077; mkdir -p %[4]s && cat > %[1]s && [ \"$(wc -c < %[1]s)\" -eq %[2]d ] && chmod 700 %[1]s && mv -f %[1]s %[3]s || { rm -f %[1]s; exit 1; }",
		tmp, st.Size(), q(dst), q(filepath.Dir(dst)))
	_, stderr, err := s.c.Run(ctx, "sh -c "+q(script), f)
	if err != nil {
		return fmt.Errorf("uploading %s to %s: %w", src, dst, &remoteError{err: err, stderr: strings.TrimSpace(string(stderr))})
	}
	return nil
}

func (s overSSH) tail(ctx context.Context, path string, n int) string {
	out, _ := s.run(ctx, fmt.Sprintf("tail -c %d %s 2>/dev/null\n", n, q(path)))
	return string(out)
}

func (s overSSH) ownDir(ctx context.Context, dir string) error {
	_, err := s.run(ctx, fmt.Sprintf(`d=%s
mkdir -p "$d"
[ -d "$d" ] && [ ! -L "$d" ] || { echo "$d is not a directory" >&2; exit 1; }
set -- $(ls -ldn "$d")
case "$1" in d????w*|d???????w*) echo "$d is writable by others than its owner ($1)" >&2; exit 1;; esac
[ "$3" = "$(id -u)" ] || { echo "$d is owned by uid $3, not by this user (uid $(id -u))" >&2; exit 1; }
`, q(dir)))
	var exit *xssh.ExitError
	if errors.As(err, &exit) {
		return settingsError{fmt.Errorf("%s on %s is not a directory of this user's that only they can write: %w", dir, s.c.Login.Host, err)}
	}
	return err
}

// base64Lines is data in base64, in lines of 76 characters.
func base64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	return b.String()
}
