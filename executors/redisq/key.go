package redisq

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// KeyFile is the name of the key file in the dispatcher's data directory: a dispatcher creates it on its first
// start, and a worker run by the same user on the same machine finds it there.
const KeyFile = "redis.key"

// LoadKey returns the key that authenticates tasks and outcomes: value if it is set (GOVALENT_REDIS_KEY), else
// the contents of file. With create, a missing file is created with a fresh random key, readable by its owner
// only. A key file that others may read is refused, as ssh refuses such private keys.
func LoadKey(value, file string, create bool) ([]byte, error) {
	if value != "" {
		return checkKey([]byte(value), "the key given")
	}
	if file == "" {
		return nil, errors.New("no Redis key: set GOVALENT_REDIS_KEY or GOVALENT_REDIS_KEY_FILE")
	}
	if create {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			_, err = f.WriteString(hex.EncodeToString(raw) + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(file)
				return nil, fmt.Errorf("writing the Redis key %s: %w", file, err)
			}
		case !errors.Is(err, fs.ErrExist):
			return nil, fmt.Errorf("creating the Redis key %s: %w", file, err)
		}
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("no Redis key: %w (copy the dispatcher's %s here, or set GOVALENT_REDIS_KEY)", err, KeyFile)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the Redis key %s may be read by others (mode %v): chmod 600 it", file, st.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return checkKey(bytes.TrimSpace(b), file)
}

func checkKey(k []byte, what string) ([]byte, error) {
	if len(k) < MinKeyLen {
		return nil, fmt.Errorf("%s is too short for a Redis key (%d bytes, at least %d)", what, len(k), MinKeyLen)
	}
	return k, nil
}

// RedactURL is raw with any password replaced by "xxxxx", for logs and errors; a URL that does not parse is
// not shown at all (it might hold a password where the parser gave up).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
