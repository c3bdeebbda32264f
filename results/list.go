package results

import (
	"context"
	"strings"
	"time"

	"github.com/govalent/govalent/ct"
)

// ListQuery selects dispatches for List.
type ListQuery struct {
	Status   string // one status, or empty for all
	Search   string // substring of the id or the name
	Sort     string // "created" (default), "started", "ended", "runtime" or "name"
	Asc      bool
	Limit    int
	Offset   int
	TopLevel bool // leave out sublattice children
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// List returns matching dispatches, newest first by default, and how many match in all.
func (s *Store) List(ctx context.Context, q ListQuery) ([]DispatchRecord, int, error) {
	var where []string
	var args []any
	if q.Status != "" {
		where = append(where, "status = ?")
		args = append(args, q.Status)
	}
	if q.Search != "" { // a substring: % and _ in it are themselves, not wildcards
		where = append(where, `(id LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\')`)
		pattern := "%" + likeEscaper.Replace(q.Search) + "%"
		args = append(args, pattern, pattern)
	}
	if q.TopLevel {
		where = append(where, "parent_id = ''")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM dispatches`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := map[string]string{"started": "started", "ended": "ended", "runtime": "(ended - started)", "name": "name"}[q.Sort]
	if order == "" {
		order = "created"
	}
	dir := " DESC"
	if q.Asc {
		dir = " ASC"
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	rows, err := s.db.QueryContext(ctx, `SELECT `+dispatchCols+` FROM dispatches`+cond+` ORDER BY `+order+dir+`, id LIMIT ? OFFSET ?`,
		append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []DispatchRecord
	for rows.Next() {
		r, err := s.scanDispatch(ctx, rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *r)
	}
	return out, total, rows.Err()
}

// Summary is what the dashboard shows about the top-level dispatches.
type Summary struct {
	Counts map[ct.Status]int `json:"counts"` // dispatches by status
	Total  int               `json:"total"`
	// ComputeTime adds up the run times of the nodes that ran on executors (sublattice nodes are left out: their
	// children's nodes count instead); WallTime adds up the run times of finished top-level dispatches.
	ComputeTime time.Duration `json:"compute_ns"`
	WallTime    time.Duration `json:"wall_ns"`
	// RecentFailures are the latest failed top-level dispatches, newest first.
	RecentFailures []DispatchRecord `json:"-"`
}

// Summary counts the top-level dispatches by status, adds up run times, and returns the failures latest to end.
func (s *Store) Summary(ctx context.Context, failures int) (*Summary, error) {
	sum := &Summary{Counts: map[ct.Status]int{}}
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*), coalesce(sum(CASE WHEN ended > 0 AND started > 0 THEN ended - started END), 0)
		FROM dispatches WHERE parent_id = '' GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		var wall int64
		if err := rows.Scan(&status, &n, &wall); err != nil {
			return nil, err
		}
		sum.Counts[ct.Status(status)] = n
		sum.Total += n
		sum.WallTime += time.Duration(wall)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var compute int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(ended - started), 0) FROM nodes
		WHERE ended > 0 AND started > 0 AND sub_dispatch_id = ''`).Scan(&compute); err != nil {
		return nil, err
	}
	sum.ComputeTime = time.Duration(compute)
	if failures > 0 {
		sum.RecentFailures, _, err = s.List(ctx, ListQuery{Status: string(ct.StatusFailed), Sort: "ended", Limit: failures, TopLevel: true})
		if err != nil {
			return nil, err
		}
	}
	return sum, nil
}

// CountByStatus counts the top-level dispatches by status (from an index: cheap enough for every scrape of
// /metrics).
func (s *Store) CountByStatus(ctx context.Context) (map[ct.Status]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM dispatches WHERE parent_id = '' GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[ct.Status]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		counts[ct.Status(status)] = n
	}
	return counts, rows.Err()
}
