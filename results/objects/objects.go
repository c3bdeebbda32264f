// Package objects keeps named, immutable blobs: in a local directory or under an S3 prefix. The result manager
// keeps large values in one, and the AWS executors and file transfers move data through S3 with it.
package objects

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/govalent/govalent/internal/credential"
)

// Store keeps blobs by name. Names are flat ("ab12...") or slash-separated paths without "..".
type Store interface {
	// Put stores everything r yields under name, replacing what was there.
	Put(ctx context.Context, name string, r io.Reader) error
	// Get streams a blob; a blob that is not there gives an error wrapping ErrMissing.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Exists reports whether name is stored.
	Exists(ctx context.Context, name string) (bool, error)
	// String names the location, for messages.
	String() string
}

// Lister is a Store that lists and deletes its blobs, for collecting those nothing refers to any more.
type Lister interface {
	// List calls fn with the name and the time of the last write of each blob at the top level (names without
	// a slash).
	List(ctx context.Context, fn func(name string, modified time.Time) error) error
	// Delete removes a blob; one that is not there is no error.
	Delete(ctx context.Context, name string) error
}

// ErrMissing is wrapped by Get errors for blobs that are not stored.
var ErrMissing = errors.New("object missing")

// Open returns the store at location: "" for dir on the local disk, or s3://bucket/prefix (whose bucket must
// answer).
func Open(ctx context.Context, location, dir string) (Store, error) {
	switch {
	case location == "":
		return NewDir(dir)
	case strings.HasPrefix(location, "s3://"):
		s, err := NewS3(ctx, location)
		if err != nil {
			return nil, err
		}
		return s, s.Check(ctx)
	default:
		return nil, fmt.Errorf("object store %q: want s3://bucket/prefix (or nothing for the data directory)", credential.RedactURL(location))
	}
}

// Dir is a Store in a local directory.
type Dir struct{ path string }

// NewDir creates dir if needed.
func NewDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Dir{path: dir}, nil
}

func (d *Dir) file(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.path, filepath.FromSlash(name)), nil
}

// HashingPutter is a Store that names a blob by its digest as it writes it.
type HashingPutter interface {
	// PutHashed stores data under the hex SHA-256 of its bytes, which it returns. stored, given that name, tells
	// whether a good copy is kept already: then nothing is kept of this one.
	PutHashed(ctx context.Context, data []byte, stored func(name string) bool) (string, error)
}

// Put writes a temporary file, syncs it and renames it into place, so a reader never sees half a blob.
func (d *Dir) Put(_ context.Context, name string, r io.Reader) error {
	path, err := d.file(name)
	if err != nil {
		return err
	}
	tmp, err := temp(filepath.Dir(path), r)
	if err == nil {
		err = place(tmp, path)
	}
	return err
}

// PutHashed computes the digest while the bytes go to a temporary file: a large blob is stored in about the time
// of the slower of the two rather than of both.
func (d *Dir) PutHashed(_ context.Context, data []byte, stored func(name string) bool) (string, error) {
	digest := make(chan [sha256.Size]byte, 1)
	go func() { digest <- sha256.Sum256(data) }()
	tmp, err := temp(d.path, bytes.NewReader(data))
	sum := <-digest
	name := hex.EncodeToString(sum[:])
	if err != nil {
		return name, err
	}
	if stored(name) {
		os.Remove(tmp.Name())
		tmp.Close()
		return name, nil
	}
	return name, place(tmp, filepath.Join(d.path, name))
}

// temp writes what r yields to a new temporary file in dir (the blob's, so that it can be renamed into place).
func temp(dir string, r io.Reader) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("objects: writing in %s: %w", dir, err)
	}
	return tmp, nil
}

// place syncs tmp and renames it to path.
func place(tmp *os.File, path string) error {
	err := tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("objects: writing %s: %w", path, err)
	}
	return nil
}

// List lists the blobs' files at the top of the directory (not the temporary files of writes under way).
func (d *Dir) List(_ context.Context, fn func(name string, modified time.Time) error) error {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if err := fn(e.Name(), info.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes the blob's file.
func (d *Dir) Delete(_ context.Context, name string) error {
	path, err := d.file(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Get opens the blob's file.
func (d *Dir) Get(_ context.Context, name string) (io.ReadCloser, error) {
	path, err := d.file(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrMissing, path)
	}
	return f, err
}

// Exists stats the blob's file.
func (d *Dir) Exists(_ context.Context, name string) (bool, error) {
	path, err := d.file(name)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (d *Dir) String() string { return d.path }

// Root is the directory holding the blobs.
func (d *Dir) Root() string { return d.path }

// checkName refuses names that could leave the store's root.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") {
		return fmt.Errorf("objects: bad name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return fmt.Errorf("objects: name %q leaves the store (path traversal)", name)
		}
	}
	return nil
}
