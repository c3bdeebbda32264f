package native

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/govalent/govalent/ct/wire"
)

// WorkerCache is where workers on other machines keep the binaries they fetch: GOVALENT_NATIVE_CACHE, else
// the user's cache directory, else the temporary directory (AWS Lambda has no other writable place).
func WorkerCache() string {
	if d := os.Getenv("GOVALENT_NATIVE_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "govalent", "native")
	}
	return filepath.Join(os.TempDir(), "govalent-native")
}

// Fetch returns the path of the binary whose content has sha256 hash in dir, copying it there from open
// first unless it is there already. What open gives, and a file already there, is checked against hash before
// it is used, so a worker never runs a binary other than the one its (signed) task names; dir must be the
// user's own (not writable by others: the fallback caches are in the shared temporary directory).
func Fetch(ctx context.Context, dir, hash string, open func(context.Context) (io.ReadCloser, error)) (string, error) {
	if !wire.IsSHA256(hash) {
		return "", fmt.Errorf("native binary %q: not a sha256", hash)
	}
	if err := OwnDir(dir); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, hash)
	if got, err := FileHash(dst); err == nil && got == hash {
		now := time.Now()
		os.Chtimes(dst, now, now) // in use: caches that prune by age keep it
		return dst, nil
	}
	os.Remove(dst) // not what its name says: fetched again
	src, err := open(ctx)
	if err != nil {
		return "", fmt.Errorf("fetching native binary %s: %w", hash[:12], err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, hash+".*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fetching native binary %s: %w", hash[:12], err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return "", &HashMismatchError{Want: hash, Got: got}
	}
	if err := os.Chmod(tmp.Name(), 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	return dst, nil
}

// OwnDir makes dir, or checks the one there: owned by this user and writable by nobody else.
func OwnDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || !ok || int(sys.Uid) != os.Getuid() || st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is not a directory of this user's that only they can write", dir)
	}
	return nil
}

// HashMismatchError is content that is not what the hash it came under says.
type HashMismatchError struct{ Want, Got string }

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("fetched native binary %s has sha256 %s: refusing to run it", e.Want[:12], e.Got[:12])
}
