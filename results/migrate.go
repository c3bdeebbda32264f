package results

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// migrations are the schema's versions, applied in order by goose; the version a database is at is kept in its
// goose_db_version table. A change of schema is a new file here (never an edit of an applied one).
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate brings the database to the newest schema this binary knows. A database made before the schema was
// versioned holds migration 1's tables without a version table: it is marked as at version 1, not made again.
// Before migrating a database that holds data, it is copied beside itself, as DB.bak-vN-TIME. A database at
// a newer version than this binary knows is refused: its schema may hold what this binary would lose.
func (s *Store) migrate(ctx context.Context, log *slog.Logger) error {
	versions, err := database.NewStore(goose.DialectSQLite3, goose.DefaultTablename)
	if err != nil {
		return err
	}
	if err := s.adopt(ctx, versions); err != nil {
		return fmt.Errorf("results: marking the unversioned database %s as schema version 1: %w", s.path, err)
	}
	files, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectCustom, s.db, files, goose.WithStore(versions), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("results: reading the schema version of %s: %w", s.path, err)
	}
	switch {
	case current > target:
		return fmt.Errorf("results: the database %s has schema version %d, newer than this govalent knows "+
			"(%d): it was written by a newer govalent. Run that version on it (or a later one), or start this one "+
			"with another --data-dir (or --db)", s.path, current, target)
	case current == target:
		return nil
	case current > 0: // 0: a new, empty database, with nothing to lose
		backup := fmt.Sprintf("%s.bak-v%d-%s", s.path, current, time.Now().UTC().Format("20060102T150405Z"))
		if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, backup); err != nil {
			return fmt.Errorf("results: backing up %s before migrating it from schema version %d to %d: %w",
				s.path, current, target, err)
		}
		if err := os.Chmod(backup, 0o600); err != nil { // as private as the database
			return err
		}
		log.Info("backed up the database before migrating its schema", "db", s.path, "backup", backup,
			"from_version", current, "to_version", target)
	}
	applied, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("results: migrating %s from schema version %d to %d: %w", s.path, current, target, err)
	}
	level := slog.LevelInfo
	if current == 0 {
		level = slog.LevelDebug // a new database: every start of a new data directory would say it
	}
	for _, m := range applied {
		log.Log(ctx, level, "migrated the database schema", "db", s.path, "version", m.Source.Version,
			"took", m.Duration.Round(time.Microsecond).String())
	}
	return nil
}

// adopt marks a database made before the schema was versioned (it has the dispatches table and no version
// table) as at version 1, which is its schema.
func (s *Store) adopt(ctx context.Context, versions database.Store) error {
	var tables int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'dispatches'
		AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`, versions.Tablename()).Scan(&tables)
	if err != nil || tables == 0 {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := versions.CreateVersionTable(ctx, tx); err != nil {
		return err
	}
	for _, v := range []int64{0, 1} { // 0 is goose's mark of a versioned database
		if err := versions.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return err
		}
	}
	return tx.Commit()
}
