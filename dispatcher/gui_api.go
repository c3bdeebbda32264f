package dispatcher

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gorilla/mux"
	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/gui"
)

// mountGUI serves the web UI at / and its assets under /assets/. The pages hold no data (they read it from the
// API with the session cookie of a login link, or a token the user types in), so they need no credential.
func (d *Dispatcher) mountGUI(r *mux.Router) {
	ui := gui.Handler()
	r.Handle("/", ui).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix(gui.AssetPrefix).Handler(ui).Methods(http.MethodGet, http.MethodHead)
}

// dashboardFailures is how many recent failures the summary lists.
const dashboardFailures = 5

func (d *Dispatcher) summary(w http.ResponseWriter, r *http.Request) {
	sum, err := d.store.Summary(r.Context(), dashboardFailures)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	failures := make([]*ct.Result, len(sum.RecentFailures))
	for i := range sum.RecentFailures {
		failures[i] = resultFromRecord(&sum.RecentFailures[i])
		failures[i].Nodes = nil
		showValues(failures[i], false)
	}
	writeJSON(w, 200, map[string]any{"summary": sum, "recent_failures": failures, "running_now": d.engine.Running()})
}

func (d *Dispatcher) getGraph(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	g, err := d.store.Graph(r.Context(), id)
	if err != nil {
		writeError(w, errorCode(err), fmt.Errorf("dispatch %s: %w", id, err))
		return
	}
	showGraph(g, valuesEncoded(r))
	writeJSON(w, 200, g)
}

func (d *Dispatcher) getProgram(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	rec, err := d.store.Dispatch(r.Context(), id)
	if err != nil {
		writeError(w, errorCode(err), fmt.Errorf("dispatch %s: %w", id, err))
		return
	}
	prog, err := d.store.Program(r.Context(), rec.ProgramHash)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, 200, map[string]string{"dispatch_id": id, "hash": rec.ProgramHash, "source": prog.Source, "go_mod": prog.GoMod, "go_sum": prog.GoSum})
}

// Log tails are bounded: the log of a long-lived dispatcher is not sent whole.
const (
	defaultLogBytes = 256 << 10
	maxLogBytes     = 4 << 20
)

// LogFileName is the dispatcher log's name in the data directory (where `govalent start` sends it).
const LogFileName = "govalent.log"

// logTail answers the end of the dispatcher log: the last ?bytes= bytes, or, with ?offset=, what follows that
// offset (at most ?bytes=), so a page can follow the log. Output starts at a line boundary.
func (d *Dispatcher) logTail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := int64(defaultLogBytes)
	if v := q.Get("bytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad bytes %q: want a positive number", v))
			return
		}
		limit = min(n, maxLogBytes)
	}
	offset := int64(-1)
	if v := q.Get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad offset %q: want a number from 0", v))
			return
		}
		offset = n
	}
	path := filepath.Join(d.cfg.DataDir, LogFileName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no log file at %s: a dispatcher started with --foreground logs to its standard error", path))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	size := st.Size()
	start := max(size-limit, 0)
	reset := offset > size // the log was replaced: what the reader has is stale, and the end is sent afresh
	if offset >= 0 && !reset {
		start = offset
	}
	data, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, start, size-start), limit))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if int64(len(data)) == limit && start+limit < size { // more follows: stop at a line end, not inside a character
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			data = data[:i+1]
		}
	}
	next := start + int64(len(data)) // where a follow-up request continues
	truncated := start > 0 && (offset < 0 || reset)
	if truncated { // drop the partial first line of a tail
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	writeJSON(w, 200, map[string]any{"path": path, "size": size, "next_offset": next, "truncated": truncated, "reset": reset, "text": string(data)})
}
