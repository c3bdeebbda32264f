package native

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// first unless it is there already. What open gives is checked against hash before it is kept, so a worker
// never runs a binary other than the one its (signed) task names.
func Fetch(ctx context.Context, dir, hash string, open func(context.Context) (io.ReadCloser, error)) (string, error) {
	if len(hash) != sha256.Size*2 {
		return "", fmt.Errorf("native binary %q: not a sha256", hash)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return "", fmt.Errorf("native binary %q: not a sha256", hash)
	}
	dst := filepath.Join(dir, hash)
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
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
		return "", fmt.Errorf("fetched native binary %s has sha256 %s: refusing to run it", hash[:12], got[:12])
	}
	if err := os.Chmod(tmp.Name(), 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	return dst, nil
}
