package results

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/govalent/govalent/results/objects"
)

// CollectObjects deletes what no stored dispatch refers to any more, once dispatches were deleted (govalent
// purge): the programs no dispatch runs, and the objects no value refers to that were written more than grace
// ago. It returns how many of each it deleted.
//
// Objects are shared by content: a new value may be the content of an old object. So no commit runs while the
// references are read and the objects deleted (gc, which commits and backups hold for reading). The candidates
// are listed before that, so that commits wait for the reading and the deletes only; an object a commit refers
// to meanwhile shows in the references. grace spares objects a writer in another process has just written; one
// that reuses an old object there is not seen: collect on one dispatcher per object store. Names that are not
// an object's (the native builds kept beside them, under native/) are never touched.
func (s *Store) CollectObjects(ctx context.Context, grace time.Duration) (programs, removed int, err error) {
	lister, ok := s.objects.(objects.Lister)
	if !ok {
		return 0, 0, fmt.Errorf("results: the object store %s cannot list its objects", s.objects)
	}
	if err := s.Check(); err != nil {
		return 0, 0, err
	}
	cutoff := time.Now().Add(-grace)
	var candidates []string
	err = lister.List(ctx, func(name string, modified time.Time) error {
		if isObjectName(name) && modified.Before(cutoff) {
			candidates = append(candidates, name)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	// Polled rather than waited for: a writer waiting on an RWMutex holds up every new reader, and a backup may
	// hold it for long.
	for !s.gc.TryLock() {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer s.gc.Unlock()
	res, err := s.db.ExecContext(ctx, `DELETE FROM programs WHERE hash NOT IN (SELECT program_hash FROM dispatches)`)
	if err != nil {
		return 0, 0, err
	}
	n, _ := res.RowsAffected()
	refs, err := s.objectRefs(ctx)
	if err != nil {
		return int(n), 0, err
	}
	for _, name := range candidates {
		if refs[name] {
			continue
		}
		if err := lister.Delete(ctx, name); err != nil {
			return int(n), removed, err
		}
		removed++
	}
	return int(n), removed, nil
}

// objectRefs reads the names of the objects that stored values refer to.
func (s *Store) objectRefs(ctx context.Context) (map[string]bool, error) {
	refs := map[string]bool{}
	width := len(objectMark) + 64
	for _, col := range []struct{ table, column string }{
		{"programs", "source"}, {"programs", "modules"}, {"dispatches", "inputs"}, {"dispatches", "result"}, {"dispatches", "graph"},
		{"nodes", "output"}, {"nodes", "stdout"}, {"nodes", "stderr"},
	} {
		// As a blob: a text value's length stops at the mark's NUL byte.
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT CAST(%[2]s AS BLOB) FROM %[1]s WHERE length(CAST(%[2]s AS BLOB)) = ?`, col.table, col.column), width)
		if err != nil {
			return nil, err
		}
		err = scanRefs(rows, refs)
		if err != nil {
			return nil, fmt.Errorf("results: reading %s.%s: %w", col.table, col.column, err)
		}
	}
	return refs, nil
}

func scanRefs(rows *sql.Rows, refs map[string]bool) error {
	defer rows.Close()
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if name, ok := strings.CutPrefix(string(v), objectMark); ok {
			refs[name] = true
		}
	}
	return rows.Err()
}

// isObjectName tells a value's object (the hex sha256 of its content) from other names in the store.
func isObjectName(name string) bool {
	_, err := hex.DecodeString(name)
	return len(name) == 64 && err == nil
}
