// Package objects keeps named, immutable blobs: in a local directory or under an S3 prefix. The result manager
// keeps large values in one, and the AWS executors and file transfers move data through S3 with it.
package objects

import (
	"context"
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

// Put writes a temporary file, syncs it and renames it into place, so a reader never sees half a blob.
func (d *Dir) Put(_ context.Context, name string, r io.Reader) error {
	path, err := d.file(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := io.Copy(tmp, r)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("objects: writing %s: %w", path, werr)
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
