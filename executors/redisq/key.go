package redisq

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/govalent/govalent/internal/credential"
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
	load := credential.ReadPrivate
	if create {
		load = credential.LoadOrCreate
	}
	key, err := load(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no Redis key: %w (copy the dispatcher's %s here, or set GOVALENT_REDIS_KEY)", err, KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("the Redis key: %w", err)
	}
	return checkKey([]byte(key), file)
}

func checkKey(k []byte, what string) ([]byte, error) {
	if len(k) < MinKeyLen {
		return nil, fmt.Errorf("%s is too short for a Redis key (%d bytes, at least %d)", what, len(k), MinKeyLen)
	}
	return k, nil
}
