// Package results is the result manager: it keeps every dispatch, its transport graph, its shipped program, its
// inputs and every node's status and output, durably, as they happen.
//
// The default Store is an embedded SQLite database (modernc.org/sqlite, pure Go) in WAL mode with values larger
// than a threshold kept as content-addressed blobs in an object store (package objects): files beside the
// database, or an S3 prefix. A commit returns only once the data is in the
// write-ahead log, so a dispatcher killed with SIGKILL loses nothing it has reported as stored. (With
// synchronous=NORMAL, a power loss may lose the last transactions: durability against the machine dying needs
// synchronous=FULL, at a cost per commit.)
package results

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/results/objects"
	_ "modernc.org/sqlite"
)

// DispatchRecord is a dispatch's row.
type DispatchRecord struct {
	ID          string
	RootID      string
	ParentID    string
	ParentNode  int // -1 when not a sublattice
	Name        string
	Status      ct.Status
	Created     time.Time
	Started     time.Time
	Ended       time.Time
	Error       string
	Inputs      json.RawMessage
	Result      json.RawMessage
	ProgramHash string
	Notes       []string
	NodeCount   int
}

// NodeRecord is a node's row; only nodes that have started have one.
type NodeRecord struct {
	DispatchID    string
	NodeID        int
	Status        ct.Status
	Output        json.RawMessage
	Error         string
	Stack         string
	Stdout        string
	Stderr        string
	Started       time.Time
	Ended         time.Time
	Executor      string
	SubDispatchID string
	Attempts      int
}

// Batch is written in one transaction.
type Batch struct {
	Dispatches []DispatchRecord // upserted, graph and program untouched
	Nodes      []NodeRecord     // upserted
}

// ErrNotFound is returned for unknown dispatch ids.
var ErrNotFound = errors.New("not found")

// Store is the embedded database and its object store.
type Store struct {
	db        *sql.DB
	objects   objects.Store
	threshold int
	// Prepared once (preparing per commit was a tenth of the dispatcher's CPU): one row, and nodesPerStatement
	// rows at a time (BenchmarkCommitNodes: 6.6 µs a row against 7.9 µs one at a time).
	upsertNode, upsertNodes *sql.Stmt

	mu      sync.Mutex
	corrupt map[string]bool // objects whose digest did not match when read: stored again, not reused
}

// InlineLimit is the size above which values are kept as files rather than in the database.
const InlineLimit = 256 << 10

const schema = `
CREATE TABLE IF NOT EXISTS programs (hash TEXT PRIMARY KEY, source BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dispatches (
	id TEXT PRIMARY KEY, root_id TEXT NOT NULL, parent_id TEXT NOT NULL, parent_node INTEGER NOT NULL,
	name TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER NOT NULL,
	ended INTEGER NOT NULL, error TEXT NOT NULL, inputs BLOB, result BLOB, program_hash TEXT NOT NULL,
	graph BLOB, notes TEXT NOT NULL, node_count INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dispatches_created ON dispatches(created);
CREATE INDEX IF NOT EXISTS dispatches_status ON dispatches(status);
CREATE TABLE IF NOT EXISTS nodes (
	dispatch_id TEXT NOT NULL, node_id INTEGER NOT NULL, status TEXT NOT NULL, output BLOB, error TEXT NOT NULL,
	stack TEXT NOT NULL, stdout TEXT NOT NULL, stderr TEXT NOT NULL, started INTEGER NOT NULL,
	ended INTEGER NOT NULL, executor TEXT NOT NULL, sub_dispatch_id TEXT NOT NULL, attempts INTEGER NOT NULL,
	PRIMARY KEY (dispatch_id, node_id)) WITHOUT ROWID;
`

// Options place a store's parts; the zero value keeps everything in the data directory.
type Options struct {
	DB          string // the SQLite file; default DIR/govalent.db
	ObjectStore string // where large values go: "" for DIR/objects, or s3://bucket/prefix
}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith opens (creating if needed) the store in dir, with its parts where opts says.
func OpenWith(dir string, opts Options) (*Store, error) {
	if opts.DB == "" {
		opts.DB = filepath.Join(dir, "govalent.db")
	}
	if err := os.MkdirAll(filepath.Dir(opts.DB), 0o755); err != nil {
		return nil, err
	}
	objs, err := objects.Open(context.Background(), opts.ObjectStore, filepath.Join(dir, "objects"))
	if err != nil {
		return nil, err
	}
	dsn := "file:" + opts.DB +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(OFF)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("results: creating schema: %w", err)
	}
	upsert, err := db.Prepare(upsertNodesSQL(1))
	if err != nil {
		db.Close()
		return nil, err
	}
	upsertMany, err := db.Prepare(upsertNodesSQL(nodesPerStatement))
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, objects: objs, threshold: InlineLimit, upsertNode: upsert, upsertNodes: upsertMany, corrupt: map[string]bool{}}, nil
}

// nodesPerStatement is how many node rows one multi-row upsert writes.
const nodesPerStatement = 32

// upsertNodesSQL writes n node rows; a node already stored is updated (SQLite applies the rows in order, so a
// node twice in one statement ends as the later row).
func upsertNodesSQL(n int) string {
	values := strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?,?),", n), ",")
	return `INSERT INTO nodes(dispatch_id, node_id, status, output, error, stack, stdout, stderr,
		started, ended, executor, sub_dispatch_id, attempts) VALUES ` + values + `
		ON CONFLICT(dispatch_id, node_id) DO UPDATE SET status=excluded.status, output=excluded.output,
		error=excluded.error, stack=excluded.stack, stdout=excluded.stdout, stderr=excluded.stderr,
		started=excluded.started, ended=excluded.ended, executor=excluded.executor,
		sub_dispatch_id=excluded.sub_dispatch_id, attempts=excluded.attempts`
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// objectMark starts a stored value that lives in the object store; JSON and Go source never start with a NUL
// byte.
const objectMark = "\x00obj:"

// objectTimeout bounds one object store request (an S3 upload of a large value included).
const objectTimeout = 10 * time.Minute

// put returns what to store in a column for data: the data itself, or a reference to the blob holding it,
// named by its SHA-256 so that equal values are stored once.
func (s *Store) put(data []byte) ([]byte, error) {
	if len(data) <= s.threshold {
		return data, nil
	}
	sum := sha256.Sum256(data)
	name := hex.EncodeToString(sum[:])
	ctx, cancel := context.WithTimeout(context.Background(), objectTimeout)
	defer cancel()
	// A failed check (S3 without s3:ListBucket answers 403) only costs an upload; so does an object found
	// corrupt once, which the upload repairs.
	s.mu.Lock()
	corrupt := s.corrupt[name]
	s.mu.Unlock()
	if ok, err := s.objects.Exists(ctx, name); err == nil && ok && !corrupt {
		return []byte(objectMark + name), nil
	}
	if err := s.objects.Put(ctx, name, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("results: writing object %s to %s: %w", name, s.objects, err)
	}
	if corrupt {
		s.mu.Lock()
		delete(s.corrupt, name)
		s.mu.Unlock()
	}
	return []byte(objectMark + name), nil
}

// get resolves a column value, streaming the blob it refers to and checking its digest.
func (s *Store) get(v []byte) ([]byte, error) {
	if !strings.HasPrefix(string(v), objectMark) {
		return v, nil
	}
	name := string(v[len(objectMark):])
	ctx, cancel := context.WithTimeout(context.Background(), objectTimeout)
	defer cancel()
	r, err := s.objects.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("results: stored object %s is missing or unreadable: %w", name, err)
	}
	defer r.Close()
	h := sha256.New()
	var buf bytes.Buffer
	if _, err := io.Copy(io.MultiWriter(&buf, h), r); err != nil {
		return nil, fmt.Errorf("results: stored object %s is unreadable: %w", name, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != name {
		s.mu.Lock()
		s.corrupt[name] = true
		s.mu.Unlock()
		return nil, fmt.Errorf("results: stored object %s in %s is corrupt (digest mismatch)", name, s.objects)
	}
	return buf.Bytes(), nil
}

func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ProgramHash is the content address of a program's source.
func ProgramHash(src string) string {
	sum := sha256.Sum256([]byte(src))
	return hex.EncodeToString(sum[:16])
}

// CreateDispatch stores a new dispatch with its graph and program, durably.
func (s *Store) CreateDispatch(rec *DispatchRecord, graph []byte, program string) error {
	g, err := s.put(graph)
	if err != nil {
		return err
	}
	p, err := s.put([]byte(program))
	if err != nil {
		return err
	}
	in, err := s.put(rec.Inputs)
	if err != nil {
		return err
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if program != "" {
		if _, err := tx.Exec(`INSERT OR IGNORE INTO programs(hash, source) VALUES (?, ?)`, rec.ProgramHash, p); err != nil {
			return err
		}
	}
	notes, _ := json.Marshal(rec.Notes)
	_, err = tx.Exec(`INSERT INTO dispatches(id, root_id, parent_id, parent_node, name, status, created, started, ended,
		error, inputs, result, program_hash, graph, notes, node_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		rec.ID, rec.RootID, rec.ParentID, rec.ParentNode, rec.Name, string(rec.Status), ts(rec.Created),
		ts(rec.Started), ts(rec.Ended), rec.Error, in, nil, rec.ProgramHash, g, string(notes), rec.NodeCount)
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Commit writes a batch in one transaction.
func (s *Store) Commit(b Batch) error {
	type nodeRow struct {
		r                   *NodeRecord
		out, stdout, stderr []byte
	}
	rows := make([]nodeRow, len(b.Nodes))
	for i := range b.Nodes {
		r := &b.Nodes[i]
		row := nodeRow{r: r}
		for _, v := range []struct {
			dst *[]byte
			src []byte
		}{{&row.out, r.Output}, {&row.stdout, []byte(r.Stdout)}, {&row.stderr, []byte(r.Stderr)}} {
			var err error
			if *v.dst, err = s.put(v.src); err != nil {
				return err
			}
		}
		rows[i] = row
	}
	results := make([][]byte, len(b.Dispatches))
	for i := range b.Dispatches {
		r, err := s.put(b.Dispatches[i].Result)
		if err != nil {
			return err
		}
		results[i] = r
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(rows) > 0 {
		one, many := tx.Stmt(s.upsertNode), tx.Stmt(s.upsertNodes)
		args := make([]any, 0, 13*nodesPerStatement)
		for len(rows) > 0 {
			stmt, n := one, 1
			if len(rows) >= nodesPerStatement {
				stmt, n = many, nodesPerStatement
			}
			args = args[:0]
			for _, row := range rows[:n] {
				r := row.r
				args = append(args, r.DispatchID, r.NodeID, string(r.Status), row.out, r.Error, r.Stack, string(row.stdout),
					string(row.stderr), ts(r.Started), ts(r.Ended), r.Executor, r.SubDispatchID, r.Attempts)
			}
			if _, err := stmt.Exec(args...); err != nil {
				return err
			}
			rows = rows[n:]
		}
		one.Close()
		many.Close()
	}
	for i, d := range b.Dispatches {
		if _, err := tx.Exec(`UPDATE dispatches SET status=?, started=?, ended=?, error=?, result=? WHERE id=?`,
			string(d.Status), ts(d.Started), ts(d.Ended), d.Error, results[i], d.ID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const dispatchCols = `id, root_id, parent_id, parent_node, name, status, created, started, ended, error, inputs,
	result, program_hash, notes, node_count`

func (s *Store) scanDispatch(row interface{ Scan(...any) error }) (*DispatchRecord, error) {
	var r DispatchRecord
	var status, notes string
	var created, started, ended int64
	var inputs, result []byte
	if err := row.Scan(&r.ID, &r.RootID, &r.ParentID, &r.ParentNode, &r.Name, &status, &created, &started, &ended,
		&r.Error, &inputs, &result, &r.ProgramHash, &notes, &r.NodeCount); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	r.Status = ct.Status(status)
	r.Created, r.Started, r.Ended = fromTS(created), fromTS(started), fromTS(ended)
	json.Unmarshal([]byte(notes), &r.Notes)
	var err error
	if r.Inputs, err = s.get(inputs); err != nil {
		return nil, err
	}
	if r.Result, err = s.get(result); err != nil {
		return nil, err
	}
	return &r, nil
}

// Dispatch returns a dispatch's row.
func (s *Store) Dispatch(id string) (*DispatchRecord, error) {
	return s.scanDispatch(s.db.QueryRow(`SELECT `+dispatchCols+` FROM dispatches WHERE id=?`, id))
}

// Graph returns a dispatch's transport graph.
func (s *Store) Graph(id string) (*ct.Graph, error) {
	var raw []byte
	if err := s.db.QueryRow(`SELECT graph FROM dispatches WHERE id=?`, id).Scan(&raw); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	data, err := s.get(raw)
	if err != nil {
		return nil, err
	}
	var g ct.Graph
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("results: graph of %s: %w", id, err)
	}
	return &g, nil
}

// Program returns a program's source by hash.
func (s *Store) Program(hash string) (string, error) {
	if hash == "" {
		return "", nil
	}
	var raw []byte
	if err := s.db.QueryRow(`SELECT source FROM programs WHERE hash=?`, hash).Scan(&raw); err != nil {
		return "", fmt.Errorf("results: program %s: %w", hash, err)
	}
	data, err := s.get(raw)
	return string(data), err
}

// Nodes returns the rows of a dispatch's started nodes.
func (s *Store) Nodes(id string) ([]NodeRecord, error) {
	rows, err := s.db.Query(`SELECT node_id, status, output, error, stack, stdout, stderr, started, ended, executor,
		sub_dispatch_id, attempts FROM nodes WHERE dispatch_id=? ORDER BY node_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NodeRecord
	for rows.Next() {
		r := NodeRecord{DispatchID: id}
		var status string
		var output, stdout, stderr []byte
		var started, ended int64
		if err := rows.Scan(&r.NodeID, &status, &output, &r.Error, &r.Stack, &stdout, &stderr, &started, &ended,
			&r.Executor, &r.SubDispatchID, &r.Attempts); err != nil {
			return nil, err
		}
		r.Status = ct.Status(status)
		r.Started, r.Ended = fromTS(started), fromTS(ended)
		// A lost object is an error on its node, never on the whole listing.
		if r.Output, err = s.get(output); err != nil {
			r.Error = strings.TrimSpace(r.Error + "\n" + err.Error())
			r.Output = nil
		}
		for _, v := range []struct {
			dst *string
			src []byte
		}{{&r.Stdout, stdout}, {&r.Stderr, stderr}} {
			data, err := s.get(v.src)
			if err != nil {
				r.Error = strings.TrimSpace(r.Error + "\n" + err.Error())
			}
			*v.dst = string(data)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Unfinished returns the ids of dispatches that had not finished, oldest first: the ones to resume.
func (s *Store) Unfinished() ([]string, error) {
	rows, err := s.db.Query(`SELECT id FROM dispatches WHERE status IN (?, ?) ORDER BY created`,
		string(ct.StatusNew), string(ct.StatusRunning))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Delete removes a dispatch and its nodes.
func (s *Store) Delete(id string) error {
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`DELETE FROM dispatches WHERE id=?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.Exec(`DELETE FROM nodes WHERE dispatch_id=?`, id); err != nil {
		return err
	}
	return tx.Commit()
}
