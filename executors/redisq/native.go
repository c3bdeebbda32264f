package redisq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/native"
)

// Native binaries (package native) go to workers on other machines through Redis: the dispatcher's executor
// stores each binary once (PutBinary) before it queues the first task naming it, and a worker fetches it once
// (Binary) into its own cache of files (binaryCache), checked against the hash its signed task names. A worker
// needs no Go toolchain to run one.

// binaryPiece is how much of a binary one Redis command carries: a binary is 5-10 MB, which in one command could
// outlast the client's read and write timeouts on a slow link.
const binaryPiece = 1 << 20

// binaryUploadTTL bounds how long the part of a binary stored by an upload that died stays in Redis.
const binaryUploadTTL = 10 * time.Minute

// ErrNoBinary is a native binary that Redis does not hold (never stored, expired, or lost with Redis's data).
var ErrNoBinary = errors.New("redisq: native binary not stored")

// MissingBinaryError is ErrNoBinary for the binary with Hash.
type MissingBinaryError struct{ Hash string }

func (e *MissingBinaryError) Error() string { return ErrNoBinary.Error() + ": " + e.Hash }
func (e *MissingBinaryError) Unwrap() error { return ErrNoBinary }

// BinaryFileError is a binary that cannot be stored because its file cannot be read, or does not have the hash
// it was to be stored under: storing it again cannot help.
type BinaryFileError struct {
	Path string
	Err  error
}

func (e *BinaryFileError) Error() string {
	return fmt.Sprintf("redisq: the native binary %s cannot be stored: %v", e.Path, e.Err)
}
func (e *BinaryFileError) Unwrap() error { return e.Err }

// binaryRefused tells whether err is Redis refusing to store a binary: it is out of memory (maxmemory), or the
// ACL user may not write it. Storing it again at once would not help.
func binaryRefused(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply) && (strings.HasPrefix(reply.Error(), "OOM") || strings.HasPrefix(reply.Error(), "NOPERM"))
}

// errUploadLost is Redis losing part of a binary while it was stored (restarted without it, or flushed).
var errUploadLost = errors.New("redisq: Redis lost part of a native binary while it was being stored; storing it again")

// PutBinary stores the native binary at path under its sha256 hash, unless Redis holds it already; either way its
// expiry is refreshed. It is written in pieces under a temporary key and renamed once whole, so that nobody
// reads part of it; a piece is added only where the previous one ended, so that pieces lost in Redis (a restart
// or flush meanwhile) or sent twice (a retry) cannot make a binary that is not the file.
func (q *Queue) PutBinary(ctx context.Context, hash, path string) error {
	key := q.key("bin", hash)
	if held, err := q.rdb.PExpire(ctx, key, q.opts.BinaryTTL).Result(); err != nil || held {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return &BinaryFileError{Path: path, Err: err}
	}
	defer f.Close()
	tmp := q.key("binup", uuid.NewString()) // what an upload that fails leaves expires after binaryUploadTTL
	sum := sha256.New()
	buf := make([]byte, binaryPiece)
	var size int64
	for {
		n, err := io.ReadFull(f, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return &BinaryFileError{Path: path, Err: err}
		}
		sum.Write(buf[:n])
		if n > 0 {
			if err := q.appendPiece(ctx, tmp, size, buf[:n]); err != nil {
				q.rdb.Del(ctx, tmp) // frees Redis's memory at once (it may be short of it)
				return err
			}
			size += int64(n)
		}
		if n < len(buf) {
			break
		}
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != hash || size == 0 {
		q.rdb.Del(ctx, tmp)
		return &BinaryFileError{Path: path, Err: fmt.Errorf("its sha256 is %s, not %s (changed since it was built?)", got, hash)}
	}
	return q.commitBinary(ctx, tmp, key, size)
}

// appendPiece adds piece to the upload tmp, which must hold exactly off bytes (or off+len(piece): this call,
// retried after it was done).
func (q *Queue) appendPiece(ctx context.Context, tmp string, off int64, piece []byte) error {
	err := appendPieceScript.Run(ctx, q.rdb, []string{tmp}, off, piece, ms(binaryUploadTTL)).Err()
	if err != nil && strings.HasPrefix(err.Error(), "LOST") {
		return errUploadLost
	}
	return err
}

// commitBinary renames the upload tmp, once it holds size bytes, to key (unless another upload of the binary
// did so first) and refreshes its expiry.
func (q *Queue) commitBinary(ctx context.Context, tmp, key string, size int64) error {
	err := commitBinaryScript.Run(ctx, q.rdb, []string{tmp, key}, size, ms(q.opts.BinaryTTL)).Err()
	if err != nil && strings.HasPrefix(err.Error(), "LOST") {
		return errUploadLost
	}
	return err
}

// KEYS[1] an upload. ARGV: offset, piece, ttl ms.
var appendPieceScript = redis.NewScript(`
local n, off = redis.call('STRLEN', KEYS[1]), tonumber(ARGV[1])
if n == off + #ARGV[2] then
  return n
end
if n ~= off then
  return redis.error_reply('LOST part of the upload')
end
redis.call('APPEND', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n + #ARGV[2]
`)

// KEYS[1] an upload, KEYS[2] the binary's key. ARGV: size, ttl ms.
var commitBinaryScript = redis.NewScript(`
if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return redis.error_reply('LOST part of the upload')
end
if redis.call('RENAMENX', KEYS[1], KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
`)

// Binary writes the native binary stored under hash to w, and checks it: an error wrapping ErrNoBinary if
// Redis does not hold it; an error (and a refusal counted) if what it holds does not have that hash, in which
// case what w got must not be run. Such a binary is deleted, so that its dispatcher stores it again with the next
// task that names it (Enqueue: ErrNoBinary).
func (q *Queue) Binary(ctx context.Context, hash string, w io.Writer) error {
	key := q.key("bin", hash)
	size, err := q.rdb.StrLen(ctx, key).Result()
	if err != nil {
		return err
	}
	sum := sha256.New()
	var read int64
	for read < size {
		piece, err := q.rdb.GetRange(ctx, key, read, min(read+binaryPiece, size)-1).Result()
		if err != nil {
			return err
		}
		if piece == "" { // expired meanwhile
			break
		}
		sum.Write([]byte(piece))
		if _, err := io.WriteString(w, piece); err != nil {
			return err
		}
		read += int64(len(piece))
	}
	if size == 0 || read < size {
		return &MissingBinaryError{Hash: hash}
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != hash {
		q.refuse("a native binary", "hash", hash)
		q.rdb.Del(ctx, key)
		return fmt.Errorf("redisq: the native binary stored under %s has sha256 %s: corrupted in Redis, or written there by someone without the key", hash, got)
	}
	return nil
}

// KEYS[1] platforms. Returns the platforms whose last heartbeat has not expired, dropping the others.
var platformsScript = redis.NewScript(luaNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`)

// Platforms returns the distinct platforms ("linux/amd64") of live workers, as their heartbeats name them,
// sorted: one small read, however many workers there are. Heartbeats are not signed: what is not of the form
// GOOS/GOARCH is left out.
func (q *Queue) Platforms(ctx context.Context) ([]string, error) {
	platforms, err := platformsScript.Run(ctx, q.rdb, []string{q.key("platforms")}).StringSlice()
	return slices.DeleteFunc(platforms, func(p string) bool { return !platformForm.MatchString(p) }), err
}

var platformForm = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9]+$`)

// binaryCache keeps the native binaries a worker fetched from Redis as files named by their hash, so that its
// task processes can start them. Each is fetched once: concurrent tasks share the fetch, and later tasks find
// the file.
type binaryCache struct {
	dir string
	q   *Queue
	log *slog.Logger

	mu      sync.Mutex
	fetches map[string]*binaryFetch // by hash; a failed fetch is forgotten, so that the next task tries again
}

type binaryFetch struct {
	done chan struct{}
	path string
	err  error
}

func newBinaryCache(dir string, q *Queue, log *slog.Logger) *binaryCache {
	return &binaryCache{dir: dir, q: q, log: log, fetches: map[string]*binaryFetch{}}
}

// ready returns the file of a binary this process has fetched (or found, and checked) already.
func (c *binaryCache) ready(hash string) (string, bool) {
	c.mu.Lock()
	f := c.fetches[hash]
	c.mu.Unlock()
	if f == nil {
		return "", false
	}
	select {
	case <-f.done:
		return f.path, f.err == nil
	default:
		return "", false
	}
}

// get returns the file of the binary with hash, fetching it from Redis unless this worker has it. An error
// wrapping ErrNoBinary means Redis does not hold it.
func (c *binaryCache) get(ctx context.Context, hash string) (string, error) {
	c.mu.Lock()
	f := c.fetches[hash]
	if f == nil {
		f = &binaryFetch{done: make(chan struct{})}
		c.fetches[hash] = f
		c.mu.Unlock()
		f.path, f.err = c.fetch(ctx, hash)
		close(f.done)
		if f.err != nil {
			c.mu.Lock()
			delete(c.fetches, hash)
			c.mu.Unlock()
		}
		return f.path, f.err
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.path, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// fetch puts the binary with hash in the cache directory, unless a file there already has that content.
func (c *binaryCache) fetch(ctx context.Context, hash string) (string, error) {
	start := time.Now()
	path, err := native.Fetch(ctx, c.dir, hash, func(ctx context.Context) (io.ReadCloser, error) {
		r, w := io.Pipe()
		go func() { w.CloseWithError(c.q.Binary(ctx, hash, w)) }()
		return r, nil
	})
	if err != nil {
		return "", err
	}
	c.log.Info("fetched a native binary from Redis", "hash", hash, "took", time.Since(start).Round(time.Millisecond))
	return path, nil
}

// Binaries not used for binaryKeep are deleted when a worker starts; so are uploads left by a worker that died
// while it fetched one.
const (
	binaryKeep    = 7 * 24 * time.Hour
	binaryTmpKeep = time.Hour
)

// prune deletes the binaries no worker sharing the cache directory used lately.
func (c *binaryCache) prune() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return // none fetched yet
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		keep := binaryKeep
		if strings.Contains(e.Name(), ".tmp") {
			keep = binaryTmpKeep // another worker may be writing it right now
		}
		if time.Since(info.ModTime()) > keep {
			if err := os.Remove(filepath.Join(c.dir, e.Name())); err == nil {
				c.log.Info("deleted a native binary not used lately", "file", e.Name())
			}
		}
	}
}

// nativeHash is the hash of the binary task t runs from on this worker's platform, or "" if it runs interpreted.
func nativeHash(t *executors.Task) string {
	if t.Kind != executors.KindElectron {
		return ""
	}
	return t.Binaries[executors.Platform].Hash
}

// useBinary makes t run from the binary at path, this worker's copy (the task names the dispatcher's).
func useBinary(t *executors.Task, hash, path string) {
	t.Binaries = map[string]executors.Binary{executors.Platform: {Hash: hash, Path: path}}
}
