package results

import "strings"

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

// List returns matching dispatches, newest first by default, and how many match in all.
func (s *Store) List(q ListQuery) ([]DispatchRecord, int, error) {
	var where []string
	var args []any
	if q.Status != "" {
		where = append(where, "status = ?")
		args = append(args, q.Status)
	}
	if q.Search != "" {
		where = append(where, "(id LIKE ? OR name LIKE ?)")
		args = append(args, "%"+q.Search+"%", "%"+q.Search+"%")
	}
	if q.TopLevel {
		where = append(where, "parent_id = ''")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRow(`SELECT count(*) FROM dispatches`+cond, args...).Scan(&total); err != nil {
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
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	rows, err := s.db.Query(`SELECT `+dispatchCols+` FROM dispatches`+cond+` ORDER BY `+order+dir+`, id LIMIT ? OFFSET ?`,
		append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []DispatchRecord
	for rows.Next() {
		r, err := s.scanDispatch(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *r)
	}
	return out, total, rows.Err()
}
