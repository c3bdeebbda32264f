// Package credential keeps the secrets that let a user's own programs reach their dispatcher without
// configuration: the API token lives in a file only its owner can read, which the dispatcher creates on its first
// start and which the SDK, the kernel and the CLI of the same user read.
package credential

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// TokenFileEnv names the environment variable that overrides where the token file is.
const TokenFileEnv = "GOVALENT_TOKEN_FILE"

// TokenPath is where the user's dispatcher token is kept: $GOVALENT_TOKEN_FILE, else
// <user config dir>/govalent/token (~/.config/govalent/token on Linux).
func TokenPath() string {
	if p := os.Getenv(TokenFileEnv); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "govalent", "token")
}

// Token is the token a client should send: $GOVALENT_TOKEN, else the token file's content, else "".
func Token() string {
	if t := os.Getenv("GOVALENT_TOKEN"); t != "" {
		return t
	}
	t, _ := Read(TokenPath())
	return t
}

// Read returns the secret kept in the file at path; a missing file gives "" and no error.
func Read(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// LoadOrCreate returns the secret kept in the file at path, first creating it with 32 random bytes (hex) when
// there is none. The file is readable by its owner only (0600, in a directory made 0700), and an existing file
// that others can read or write is refused rather than trusted.
func LoadOrCreate(path string) (string, error) {
	if path == "" {
		return "", errors.New("no place for the secret file: set " + TokenFileEnv)
	}
	if s, err := ReadPrivate(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	// Written to a temporary file and linked into place, so two processes starting at once agree on one secret
	// and neither reads a half-written file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(raw) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return ReadPrivate(path)
}

// ReadPrivate returns the secret kept in the file at path, refusing a file that others can read or write.
func ReadPrivate(path string) (string, error) {
	// Not through a symlink: in a shared directory another user could plant one.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s can be read or written by other users (mode %04o): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return "", fmt.Errorf("%s belongs to another user (uid %d): a secret of yours must be your own file", path, sys.Uid)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty: remove it to make a new secret", path)
	}
	return s, nil
}

// RedactURL hides the password of a URL (redis://:secret@host → redis://:xxxxx@host) for logs and messages;
// a string that does not parse as a URL is shown as "(unparsable URL)", since it may hold a secret too.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
