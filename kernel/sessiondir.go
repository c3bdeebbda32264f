package kernel

// The session's module directory. Jupyter restarts a kernel by stopping it (a shutdown_request with restart, or a
// kill) and starting another with the same connection file; the new kernel takes over the session's go.mod and
// go.sum, as a restarted IPython keeps the packages pip installed: variables go, modules stay, at the same
// versions. A shutdown that is no restart deletes them.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/govalent/govalent/native"
)

const (
	// sessionKeep is how long the module directory of a kernel that was killed and not restarted stays: Jupyter
	// restarts within seconds, nobody comes back after days.
	sessionKeep = 7 * 24 * time.Hour
	// sessionLockWait is how long a new kernel waits for the one it replaces to let go of the session.
	sessionLockWait = 10 * time.Second
)

// moduleDir is a session's module directory and what to do with it when the kernel stops.
type moduleDir struct {
	path string
	kept bool // taken over from the kernel this one replaces
	// release is called when the kernel stops; restart says whether a kernel is to take the session over
	release func(restart bool)
}

// openModuleDir returns the session's module directory: opts.ModuleDir as it is, the connection file's session
// directory, or, without a connection file, a temporary one.
func openModuleDir(opts Options, log *slog.Logger) (moduleDir, error) {
	if opts.ModuleDir != "" {
		return moduleDir{path: opts.ModuleDir, release: func(bool) {}}, nil
	}
	if opts.ConnectionFile != "" {
		m, err := sessionModuleDir(opts.ConnectionFile)
		if err == nil {
			return m, nil
		}
		log.Warn("the session's modules are not kept across restarts", "err", err)
	}
	dir, err := os.MkdirTemp("", "govalent-session-")
	if err != nil {
		return moduleDir{}, fmt.Errorf("kernel: the session's module directory: %w", err)
	}
	if err := writeSessionGoMod(dir); err != nil {
		os.RemoveAll(dir)
		return moduleDir{}, err
	}
	return moduleDir{path: dir, release: func(bool) { os.RemoveAll(dir) }}, nil
}

// sessionsDir holds the sessions' module directories. The kernel builds and runs what their go.mod names, so
// the directory must be the user's alone.
func sessionsDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "govalent", "sessions")
	if err := native.OwnDir(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// sessionModuleDir opens the session directory of a connection file (named by a hash of its absolute path),
// holding its lock until the kernel stops: it takes over the module a kernel before it left there, or makes one.
func sessionModuleDir(connectionFile string) (moduleDir, error) {
	root, err := sessionsDir()
	if err != nil {
		return moduleDir{}, err
	}
	abs, err := filepath.Abs(connectionFile)
	if err != nil {
		return moduleDir{}, err
	}
	sum := sha256.Sum256([]byte(abs))
	session := filepath.Join(root, hex.EncodeToString(sum[:10]))
	if err := os.MkdirAll(session, 0o700); err != nil {
		return moduleDir{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionLockWait)
	unlock, err := lockContext(ctx, filepath.Join(session, "lock"))
	cancel()
	if err != nil {
		return moduleDir{}, fmt.Errorf("another kernel holds the session of %s: %w", abs, err)
	}
	now := time.Now()
	os.Chtimes(filepath.Join(session, "lock"), now, now) // in use: pruning goes by this
	m := moduleDir{path: filepath.Join(session, "module")}
	if _, err := os.Stat(filepath.Join(m.path, "go.mod")); err == nil {
		m.kept = true
	} else {
		os.RemoveAll(m.path)
		err := os.Mkdir(m.path, 0o700)
		if err == nil {
			err = writeSessionGoMod(m.path)
		}
		if err != nil {
			unlock()
			return moduleDir{}, err
		}
	}
	m.release = func(restart bool) {
		if restart {
			now := time.Now()
			os.Chtimes(filepath.Join(session, "lock"), now, now)
			unlock()
			return
		}
		removeLocked(session, []func(){unlock})
	}
	pruneSessions(root)
	return m, nil
}

// pruneSessions deletes the session directories that no kernel holds and none used for sessionKeep.
func pruneSessions(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		session := filepath.Join(root, e.Name())
		if strings.HasPrefix(e.Name(), deletedPrefix) {
			os.RemoveAll(session) // a prune that did not finish
			continue
		}
		info, err := os.Stat(filepath.Join(session, "lock"))
		if err != nil || time.Since(info.ModTime()) < sessionKeep {
			continue
		}
		unlock, err := lockFile(filepath.Join(session, "lock"), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			continue // a kernel runs in it
		}
		removeLocked(session, []func(){unlock})
	}
}

// deletedPrefix names a directory being deleted.
const deletedPrefix = ".deleted-"

// removeLocked deletes dir, whose lock files (all of them) unlocks let go: renamed first,
// while they are held, so that a kernel that opens a lock file in dir afterwards opens a new one, in a new
// directory (lockFile checks that the file it locked is still there).
func removeLocked(dir string, unlocks []func()) bool {
	defer func() {
		for _, unlock := range unlocks {
			unlock()
		}
	}()
	tomb, err := os.MkdirTemp(filepath.Dir(dir), deletedPrefix)
	if err != nil {
		return false
	}
	gone := filepath.Join(tomb, "dir")
	if err := os.Rename(dir, gone); err != nil {
		os.Remove(tomb)
		return false
	}
	return os.RemoveAll(tomb) == nil
}

// writeSessionGoMod writes a new session's go.mod, for the Go of the user's toolchain (or the kernel's, without
// one): a newer go directive would have the go command download another.
func writeSessionGoMod(dir string) error {
	v := runtime.Version()
	if goCmd, err := native.GoCommand(); err == nil {
		cmd := exec.Command(goCmd, "env", "GOVERSION")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := cmd.Output(); err == nil && strings.HasPrefix(string(out), "go1.") {
			v = strings.TrimSpace(string(out))
		}
	}
	v = strings.TrimPrefix(v, "go")
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		v = parts[0] + "." + parts[1]
	}
	gomod := fmt.Sprintf("module %s\n\ngo %s\n", sessionModule, v)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600); err != nil {
		return fmt.Errorf("kernel: the session's go.mod: %w", err)
	}
	return nil
}

// lockFile takes a flock of how (syscall.LOCK_EX or LOCK_SH, with LOCK_NB not to wait) on the file at path,
// made if missing; unlock lets it go.
func lockFile(path string, how int) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	// a prune may have deleted the file while this waited for it: lock the one at path now
	held, err1 := f.Stat()
	now, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		f.Close()
		return lockFile(path, how)
	}
	return func() { f.Close() }, nil
}

// lockContext takes an exclusive lock on path, waiting for it until ctx ends.
func lockContext(ctx context.Context, path string) (unlock func(), err error) {
	for {
		unlock, err := lockFile(path, syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
