// Package results is the result manager: it keeps every dispatch, its transport graph, its shipped program, its
// inputs and every node's status and output, durably, as they happen.
//
// The default Store is an embedded SQLite database (modernc.org/sqlite, pure Go) in WAL mode with values larger
// than a threshold kept as content-addressed blobs in an object store (package objects): files beside the
// database, or an S3 prefix. A commit returns only once the data is in the
// write-ahead log, so a dispatcher killed with SIGKILL loses nothing it has reported as stored. (With
// synchronous=NORMAL, a power loss may lose the last transactions: durability against the machine dying needs
// synchronous=FULL, at a cost per commit.)
//
// A store refuses to open a damaged database (PRAGMA quick_check), and refuses every write once its database
// file has been removed or replaced under it (such writes would go to a file no later start opens); the Manager
// holds what it could not write and retries. Backup streams a consistent copy while the dispatcher runs.
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
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/results/objects"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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
	ProgramHash string // the program's key in the store (ProgramKey)
	Notes       []string
	NodeCount   int
}

// NodeState is a node's state: the one record of a node's fields. The scheduler keeps it while the node runs
// (embedded in its node), the store writes it as a row (embedded in NodeRecord; its columns are nodeColumns),
// and the API shows it as a ct.NodeResult.
type NodeState struct {
	Status        ct.Status
	Output        json.RawMessage
	Error         string
	Stack         string // where a panic happened
	Stdout        string
	Stderr        string
	Started       time.Time
	Ended         time.Time
	Executor      string
	SubDispatchID string // a sublattice's child dispatch
	Attempts      int
}

// NodeRecord is a node's row; only nodes that have started have one.
type NodeRecord struct {
	DispatchID string
	NodeID     int
	NodeState
}

// Batch is written in one transaction.
type Batch struct {
	Dispatches []DispatchRecord // upserted, graph and program untouched
	Nodes      []NodeRecord     // upserted
}

// ErrNotFound is returned for unknown dispatch ids.
var ErrNotFound = errors.New("not found")

// ErrUnavailable is wrapped by the errors of a store that cannot write: a full disk, an I/O error, its
// database file removed or replaced.
var ErrUnavailable = errors.New("the result store cannot write")

// unavailable marks a write's error as the store's condition (never the data's: nothing written is refused
// for its content).
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Store is the embedded database and its object store.
type Store struct {
	gc        sync.RWMutex // writes hold it for reading; CollectObjects for writing
	db        *sql.DB
	path      string      // the database file
	file      os.FileInfo // what path was when it was opened: Check compares
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

// nodeColumns are the columns of a node's row after its key (dispatch_id, node_id), in the order of nodeValues
// and scanNode. A column added here needs a migration that adds it (see migrations/).
var nodeColumns = []string{"status", "output", "error", "stack", "stdout", "stderr", "started", "ended",
	"executor", "sub_dispatch_id", "attempts"}

// nodeColumn lists the node columns, each as f makes it.
func nodeColumn(f func(name string) string) string {
	cols := make([]string, len(nodeColumns))
	for i, c := range nodeColumns {
		cols[i] = f(c)
	}
	return strings.Join(cols, ", ")
}

// Options place a store's parts; the zero value keeps everything in the data directory.
type Options struct {
	DB          string       // the SQLite file; default DIR/govalent.db
	ObjectStore string       // where large values go: "" for DIR/objects, or s3://bucket/prefix
	Log         *slog.Logger // reports schema migrations and their backups; nil for slog.Default()
}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith opens (creating if needed) the store in dir, with its parts where opts says.
func OpenWith(dir string, opts Options) (*Store, error) {
	if opts.DB == "" {
		opts.DB = filepath.Join(dir, "govalent.db")
	}
	if err := os.MkdirAll(filepath.Dir(opts.DB), 0o700); err != nil {
		return nil, err
	}
	objs, err := objects.Open(context.Background(), opts.ObjectStore, filepath.Join(dir, "objects"))
	if err != nil {
		return nil, err
	}
	// The file is created here, and connections open it with mode=rw: a connection opened after the file was
	// removed fails instead of starting an empty database in its place.
	f, err := os.OpenFile(opts.DB, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("results: opening the database: %w", err)
	}
	info, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, err
	}
	// The owner's only, also when made by an older version; SQLite gives its -wal and -shm files the
	// database's mode.
	for _, p := range []string{opts.DB, opts.DB + "-wal", opts.DB + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("results: making %s private: %w", p, err)
		}
	}
	dsn := "file:" + opts.DB +
		"?mode=rw&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(OFF)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	s := &Store{db: db, path: opts.DB, file: info, objects: objs, threshold: InlineLimit, corrupt: map[string]bool{}}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	err = s.open()
	if err == nil {
		err = s.migrate(context.Background(), opts.Log)
	}
	if err == nil {
		err = s.prepare()
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// maxConns is the size of the connection pool.
const maxConns = 4

// open checks the database, and opens every connection of the pool (kept open, so all of them read the file
// that was checked, even once it has been removed or replaced).
func (s *Store) open() error {
	conns := make([]*sql.Conn, 0, maxConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range maxConns {
		c, err := s.db.Conn(context.Background())
		if err != nil {
			return s.damaged(err)
		}
		conns = append(conns, c)
	}
	if err := s.quickCheck(conns[0]); err != nil {
		return err
	}
	return nil
}

// prepare prepares the statements of every commit.
func (s *Store) prepare() error {
	var err error
	if s.upsertNode, err = s.db.Prepare(upsertNodesSQL(1)); err != nil {
		return err
	}
	s.upsertNodes, err = s.db.Prepare(upsertNodesSQL(nodesPerStatement))
	return err
}

// quickCheck runs PRAGMA quick_check, which reads every page of the database: a damaged file is found at
// start rather than when a dispatch on a damaged page is read.
func (s *Store) quickCheck(c *sql.Conn) error {
	rows, err := c.QueryContext(context.Background(), "PRAGMA quick_check(5)")
	if err != nil {
		return s.damaged(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return s.damaged(err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return s.damaged(err)
	}
	if len(problems) > 0 {
		return s.damaged(errors.New(strings.Join(problems, "; ")))
	}
	return nil
}

// damaged explains an error of opening or checking the database: what is wrong and what to do about it.
func (s *Store) damaged(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		default:
			return fmt.Errorf("results: cannot open the database %s: %w", s.path, err)
		}
	}
	return fmt.Errorf("results: the database %s is damaged (%v), so the dispatcher will not start on it. "+
		"Either start from a backup made by `govalent backup DIR` (with --data-dir DIR), or move %[1]s, %[1]s-wal "+
		"and %[1]s-shm away: to start with an empty database, or to put a backup's %[3]s in their place",
		s.path, err, BackupDB)
}

// Check reports whether the database file is still the one the store opened. Once it was removed or replaced,
// writes would go to a file no later start opens: every write is refused, wrapping ErrUnavailable.
func (s *Store) Check() error {
	info, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: the database file %s was removed while the dispatcher had it open. "+
			"Run `govalent backup DIR` now to save what the dispatcher still holds, then stop it and start it "+
			"with --data-dir DIR", ErrUnavailable, s.path)
	case err != nil:
		return fmt.Errorf("%w: the database file %s: %w", ErrUnavailable, s.path, err)
	case !os.SameFile(info, s.file):
		return fmt.Errorf("%w: the database file %s was replaced by another file while the dispatcher had it "+
			"open. Stop the dispatcher to use the new file (run `govalent backup DIR` first to keep what the "+
			"running dispatcher holds)", ErrUnavailable, s.path)
	}
	return nil
}

// nodesPerStatement is how many node rows one multi-row upsert writes.
const nodesPerStatement = 32

// nodeArity is how many values a node row has: its key and nodeColumns.
var nodeArity = 2 + len(nodeColumns)

// upsertNodesSQL writes n node rows; a node already stored is updated (SQLite applies the rows in order, so a
// node twice in one statement ends as the later row).
func upsertNodesSQL(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", nodeArity), ",") + ")"
	return `INSERT INTO nodes(dispatch_id, node_id, ` + nodeColumn(func(name string) string { return name }) +
		`) VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", n), ",") +
		` ON CONFLICT(dispatch_id, node_id) DO UPDATE SET ` +
		nodeColumn(func(name string) string { return name + "=excluded." + name })
}

// nodeValues appends r's row, in the order of its key and nodeColumns, with its large values put in the object
// store.
func (s *Store) nodeValues(ctx context.Context, args []any, r *NodeRecord) ([]any, error) {
	var big [3][]byte
	for i, v := range [3][]byte{r.Output, []byte(r.Stdout), []byte(r.Stderr)} {
		var err error
		if big[i], err = s.put(ctx, v); err != nil {
			return nil, err
		}
	}
	return append(args, r.DispatchID, r.NodeID, string(r.Status), big[0], r.Error, r.Stack, string(big[1]),
		string(big[2]), ts(r.Started), ts(r.Ended), r.Executor, r.SubDispatchID, r.Attempts), nil
}

// scanNode reads a row of node_id and nodeColumns into r, its large values from the object store. A value that
// cannot be read is an error on its node, never on the whole listing.
func (s *Store) scanNode(ctx context.Context, rows *sql.Rows, r *NodeRecord) error {
	var status string
	var big [3][]byte // output, stdout, stderr
	var started, ended int64
	if err := rows.Scan(&r.NodeID, &status, &big[0], &r.Error, &r.Stack, &big[1], &big[2], &started, &ended,
		&r.Executor, &r.SubDispatchID, &r.Attempts); err != nil {
		return err
	}
	r.Status = ct.Status(status)
	r.Started, r.Ended = fromTS(started), fromTS(ended)
	for i := range big {
		data, err := s.get(ctx, big[i])
		if err != nil {
			r.Error = strings.TrimSpace(r.Error + "\n" + err.Error())
			data = nil
		}
		big[i] = data
	}
	r.Output, r.Stdout, r.Stderr = big[0], string(big[1]), string(big[2])
	return nil
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
func (s *Store) put(ctx context.Context, data []byte) ([]byte, error) {
	if len(data) <= s.threshold {
		return data, nil
	}
	ctx, cancel := context.WithTimeout(ctx, objectTimeout)
	defer cancel()
	// A failed check (S3 without s3:ListBucket answers 403) only costs an upload; so does an object found
	// corrupt once, which the upload repairs.
	stored := func(name string) bool {
		s.mu.Lock()
		corrupt := s.corrupt[name]
		s.mu.Unlock()
		ok, err := s.objects.Exists(ctx, name)
		return err == nil && ok && !corrupt
	}
	var name string
	var err error
	if h, ok := s.objects.(objects.HashingPutter); ok {
		name, err = h.PutHashed(ctx, data, stored)
	} else {
		sum := sha256.Sum256(data)
		name = hex.EncodeToString(sum[:])
		if !stored(name) {
			err = s.objects.Put(ctx, name, bytes.NewReader(data))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("results: writing object %s to %s: %w", name, s.objects, err)
	}
	s.mu.Lock()
	delete(s.corrupt, name) // written again, or found good
	s.mu.Unlock()
	return []byte(objectMark + name), nil
}

// get resolves a column value, streaming the blob it refers to and checking its digest.
func (s *Store) get(ctx context.Context, v []byte) ([]byte, error) {
	if !strings.HasPrefix(string(v), objectMark) {
		return v, nil
	}
	name := string(v[len(objectMark):])
	ctx, cancel := context.WithTimeout(ctx, objectTimeout)
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

// ProgramHash is the content address of a program's source, by which workers fetch and check it.
func ProgramHash(src string) string {
	sum := sha256.Sum256([]byte(src))
	return hex.EncodeToString(sum[:16])
}

// ProgramKey is what a dispatch's program is stored under: the source's hash, or for a program with modules a
// hash of the source, go.mod and go.sum together (one source built with other versions is another program).
func ProgramKey(p ct.Program) string {
	if p.GoMod == "" && p.GoSum == "" {
		return ProgramHash(p.Source)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00go.mod %d\x00%s\x00go.sum\x00%s", len(p.Source), p.Source, len(p.GoMod), p.GoMod, p.GoSum)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// programModules is how a program's go.mod and go.sum are stored.
type programModules struct {
	GoMod string `json:"go_mod"`
	GoSum string `json:"go_sum"`
}

// CreateDispatch stores a new dispatch with its graph and program, durably. Its errors wrap ErrUnavailable
// (ctx's own too: the dispatch was not stored).
func (s *Store) CreateDispatch(ctx context.Context, rec *DispatchRecord, graph []byte, program ct.Program) error {
	return unavailable(s.createDispatch(ctx, rec, graph, program))
}

func (s *Store) createDispatch(ctx context.Context, rec *DispatchRecord, graph []byte, program ct.Program) error {
	if err := s.Check(); err != nil {
		return err
	}
	s.gc.RLock() // from the objects' uploads to the commit that refers to them
	defer s.gc.RUnlock()
	g, err := s.put(ctx, graph)
	if err != nil {
		return err
	}
	p, err := s.put(ctx, []byte(program.Source))
	if err != nil {
		return err
	}
	var mods []byte // NULL for a program of the standard library alone
	if program.GoMod != "" || program.GoSum != "" {
		data, _ := json.Marshal(programModules{program.GoMod, program.GoSum})
		if mods, err = s.put(ctx, data); err != nil {
			return err
		}
	}
	in, err := s.put(ctx, rec.Inputs)
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if program.Source != "" {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO programs(hash, source, modules) VALUES (?, ?, ?)`, rec.ProgramHash, p, mods); err != nil {
			return err
		}
	}
	notes, _ := json.Marshal(rec.Notes)
	_, err = tx.ExecContext(ctx, `INSERT INTO dispatches(id, root_id, parent_id, parent_node, name, status, created, started, ended,
		error, inputs, result, program_hash, graph, notes, node_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		rec.ID, rec.RootID, rec.ParentID, rec.ParentNode, rec.Name, string(rec.Status), ts(rec.Created),
		ts(rec.Started), ts(rec.Ended), rec.Error, in, nil, rec.ProgramHash, g, string(notes), rec.NodeCount)
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Commit writes a batch in one transaction. Its errors wrap ErrUnavailable.
func (s *Store) Commit(ctx context.Context, b Batch) error { return unavailable(s.commit(ctx, b)) }

func (s *Store) commit(ctx context.Context, b Batch) error {
	if err := s.Check(); err != nil {
		return err
	}
	s.gc.RLock() // from the objects' uploads to the commit that refers to them
	defer s.gc.RUnlock()
	// Values go to the object store before the transaction: no upload holds the database's write lock.
	args := make([]any, 0, nodeArity*len(b.Nodes))
	for i := range b.Nodes {
		var err error
		if args, err = s.nodeValues(ctx, args, &b.Nodes[i]); err != nil {
			return err
		}
	}
	results := make([][]byte, len(b.Dispatches))
	for i := range b.Dispatches {
		r, err := s.put(ctx, b.Dispatches[i].Result)
		if err != nil {
			return err
		}
		results[i] = r
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(args) > 0 {
		one, many := tx.StmtContext(ctx, s.upsertNode), tx.StmtContext(ctx, s.upsertNodes)
		for len(args) > 0 {
			stmt, n := one, nodeArity
			if len(args) >= nodesPerStatement*nodeArity {
				stmt, n = many, nodesPerStatement*nodeArity
			}
			if _, err := stmt.ExecContext(ctx, args[:n]...); err != nil {
				return err
			}
			args = args[n:]
		}
		one.Close()
		many.Close()
	}
	for i, d := range b.Dispatches {
		if _, err := tx.ExecContext(ctx, `UPDATE dispatches SET status=?, started=?, ended=?, error=?, result=? WHERE id=?`,
			string(d.Status), ts(d.Started), ts(d.Ended), d.Error, results[i], d.ID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const dispatchCols = `id, root_id, parent_id, parent_node, name, status, created, started, ended, error, inputs,
	result, program_hash, notes, node_count`

func (s *Store) scanDispatch(ctx context.Context, row interface{ Scan(...any) error }) (*DispatchRecord, error) {
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
	if r.Inputs, err = s.get(ctx, inputs); err != nil {
		return nil, err
	}
	if r.Result, err = s.get(ctx, result); err != nil {
		return nil, err
	}
	return &r, nil
}

// Dispatch returns a dispatch's row.
func (s *Store) Dispatch(ctx context.Context, id string) (*DispatchRecord, error) {
	return s.scanDispatch(ctx, s.db.QueryRowContext(ctx, `SELECT `+dispatchCols+` FROM dispatches WHERE id=?`, id))
}

// Graph returns a dispatch's transport graph.
func (s *Store) Graph(ctx context.Context, id string) (*ct.Graph, error) {
	var raw []byte
	if err := s.db.QueryRowContext(ctx, `SELECT graph FROM dispatches WHERE id=?`, id).Scan(&raw); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	data, err := s.get(ctx, raw)
	if err != nil {
		return nil, err
	}
	var g ct.Graph
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("results: graph of %s: %w", id, err)
	}
	return &g, nil
}

// Program returns a program by its key (ProgramKey): its source, and its go.mod and go.sum if it has modules.
func (s *Store) Program(ctx context.Context, hash string) (ct.Program, error) {
	if hash == "" {
		return ct.Program{}, nil
	}
	var raw, rawMods []byte
	if err := s.db.QueryRowContext(ctx, `SELECT source, modules FROM programs WHERE hash=?`, hash).Scan(&raw, &rawMods); err != nil {
		return ct.Program{}, fmt.Errorf("results: program %s: %w", hash, err)
	}
	data, err := s.get(ctx, raw)
	if err != nil {
		return ct.Program{}, err
	}
	p := ct.Program{Source: string(data)}
	if rawMods != nil {
		data, err := s.get(ctx, rawMods)
		if err != nil {
			return ct.Program{}, err
		}
		var mods programModules
		if err := json.Unmarshal(data, &mods); err != nil {
			return ct.Program{}, fmt.Errorf("results: the modules of program %s: %w", hash, err)
		}
		p.GoMod, p.GoSum = mods.GoMod, mods.GoSum
	}
	return p, nil
}

// Nodes returns the rows of a dispatch's started nodes.
func (s *Store) Nodes(ctx context.Context, id string) ([]NodeRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT node_id, `+nodeColumn(func(name string) string { return name })+
		` FROM nodes WHERE dispatch_id=? ORDER BY node_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NodeRecord
	for rows.Next() {
		r := NodeRecord{DispatchID: id}
		if err := s.scanNode(ctx, rows, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Unfinished returns the ids of dispatches that had not finished, oldest first: the ones to resume.
func (s *Store) Unfinished(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM dispatches WHERE status IN (?, ?) ORDER BY created`,
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

// Delete removes a dispatch and its nodes. Its errors are ErrNotFound, or wrap ErrUnavailable.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.delete(ctx, id); !errors.Is(err, ErrNotFound) {
		return unavailable(err)
	}
	return ErrNotFound
}

func (s *Store) delete(ctx context.Context, id string) error {
	if err := s.Check(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM dispatches WHERE id=?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE dispatch_id=?`, id); err != nil {
		return err
	}
	return tx.Commit()
}
