package results

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/govalent/govalent/results/objects"
)

// BackupDB is the name of the database in a backup archive; its objects are under "objects/".
const BackupDB = "govalent.db"

// Backup writes a consistent copy of the store to w as a tar archive: the database, snapshotted with VACUUM INTO
// (one read transaction, so it is consistent while dispatches run), then every object of a local object store.
// Objects are immutable, named by their content, and written before any row refers to them, so those copied
// after the snapshot include every one it refers to. (Objects in S3 stay there: the archive holds the database
// only.)
//
// The snapshot is staged in the temporary directory, not the data directory: a full data disk is when a backup
// matters most. It reads through the store's open connections, so it also saves a database whose file was
// removed while the dispatcher ran.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	tmp, err := os.MkdirTemp("", "govalent-backup-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The objects copied after the snapshot must include every one it refers to: no collection meanwhile.
	s.gc.RLock()
	defer s.gc.RUnlock()
	snapshot := filepath.Join(tmp, BackupDB)
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, snapshot); err != nil {
		return fmt.Errorf("results: snapshotting the database into %s: %w", tmp, err)
	}
	tw := tar.NewWriter(w)
	if err := addFile(tw, snapshot, BackupDB); err != nil {
		return err
	}
	count := 0
	if dir, ok := s.objects.(*objects.Dir); ok {
		root := dir.Root()
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") { // .tmp-: a Put in progress
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			count++
			return addFile(tw, path, "objects/"+filepath.ToSlash(rel))
		})
		if err != nil {
			return fmt.Errorf("results: copying the objects of %s: %w", root, err)
		}
	}
	// The end marker: an archive cut short at a file's end is otherwise a well-formed, smaller archive.
	end := []byte(strconv.Itoa(count))
	if err := tw.WriteHeader(&tar.Header{Name: backupEnd, Mode: 0o600, Size: int64(len(end)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(end); err != nil {
		return err
	}
	return tw.Close()
}

// backupEnd is the last entry of a Backup archive: the number of objects before it.
const backupEnd = "END"

// addFile copies the file at path into tw as name.
func addFile(tw *tar.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: info.Size(), ModTime: info.ModTime().Truncate(time.Second), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// Unpack writes a Backup archive into dir, which must be empty or not exist, checks each object against its
// name (its SHA-256) and the database with quick_check, and returns how many dispatches and objects it holds.
// dir is then a data directory: start a dispatcher with --data-dir dir to use it.
func Unpack(r io.Reader, dir string) (dispatches, objectCount int, err error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return 0, 0, fmt.Errorf("%s is not empty: a backup goes into a new directory", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "objects"), 0o700); err != nil {
		return 0, 0, err
	}
	tr := tar.NewReader(r)
	sawDB := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return 0, 0, errors.New("the backup is incomplete (it ends before its end marker)")
		}
		if err != nil {
			return 0, 0, fmt.Errorf("reading the backup: %w", err)
		}
		if hdr.Name == backupEnd {
			data, err := io.ReadAll(tr)
			if err != nil {
				return 0, 0, fmt.Errorf("reading the backup: %w", err)
			}
			if n, err := strconv.Atoi(string(data)); err != nil || n != objectCount {
				return 0, 0, fmt.Errorf("the backup is incomplete: it holds %d objects of %q", objectCount, data)
			}
			break
		}
		name, isObject := strings.CutPrefix(hdr.Name, "objects/")
		switch {
		case hdr.Name == BackupDB:
			sawDB = true
		case isObject && filepath.IsLocal(name):
			objectCount++
		default:
			return 0, 0, fmt.Errorf("the backup holds an unexpected entry %q", hdr.Name)
		}
		if err := unpackFile(tr, filepath.Join(dir, filepath.FromSlash(hdr.Name)), name, isObject); err != nil {
			return 0, 0, err
		}
	}
	if !sawDB {
		return 0, 0, fmt.Errorf("the backup holds no %s", BackupDB)
	}
	s, err := Open(dir)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	if _, dispatches, err = s.List(context.Background(), ListQuery{Limit: 1}); err != nil {
		return 0, 0, err
	}
	return dispatches, objectCount, nil
}

// unpackFile writes r to path; an object whose name is a SHA-256 digest must match it.
func unpackFile(r io.Reader, path, name string, isObject bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); isObject && len(name) == len(sum) && name != sum {
		return fmt.Errorf("object %s in the backup is corrupt (its digest is %s)", name, sum)
	}
	return nil
}
