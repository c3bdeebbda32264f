package kernel_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/govalent/govalent/ct"
)

// progressNotebook dispatches eight electrons of 300 ms on two workers (ten nodes) and waits for the result.
var progressNotebook = map[string]any{
	"nbformat": 4, "nbformat_minor": 4,
	"metadata": map[string]any{
		"kernelspec":    map[string]string{"display_name": "Go (govalent)", "language": "go", "name": "govalent"},
		"language_info": map[string]string{"file_extension": ".go", "name": "go"},
	},
	"cells": []map[string]any{
		{"cell_type": "code", "metadata": map[string]any{}, "outputs": []any{}, "execution_count": nil, "source": `import (
	"fmt"
	"time"
)

func Nap(i int) int {
	time.Sleep(300 * time.Millisecond)
	return i
}

func Count(xs []int) int { return len(xs) }

var nap = ct.Electron(Nap)
var count = ct.Electron(Count)
var naps = ct.Lattice(func(n int) ct.Future {
	var fs []ct.Future
	for i := 0; i < n; i++ {
		fs = append(fs, nap(i))
	}
	return count(fs)
}, ct.Name("naps"))`},
		{"cell_type": "code", "metadata": map[string]any{}, "outputs": []any{}, "execution_count": nil, "source": `id, err := ct.Dispatch(naps, 8)
if err != nil {
	panic(err)
}
res, err := ct.GetResult(id, true)
if err != nil {
	panic(err)
}
fmt.Println("status:", res.Status)`},
	},
}

// The live progress display of a dispatch reads counts as the dispatch changes, and never its whole result:
// the one full fetch of the dispatch is the cell's own ct.GetResult. (The display that polled made one full
// fetch every 250 ms: about ten for this dispatch.)
func TestNotebookProgressDisplayReadsCounts(t *testing.T) {
	target, err := url.Parse(nbDispatcher(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	requests := map[string]int{} // path -> requests
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests[r.URL.Path]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	src, err := json.Marshal(progressNotebook)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "progress.ipynb")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	nb := nbRun(t, srv.URL, path).nb

	cell := nb.cell(t, "id, err := ct.Dispatch(naps, 8)")
	if got := cell.stream("stdout"); got != "status: COMPLETED\n" {
		t.Errorf("stdout %q", got)
	}
	id, done, status := nbProgress(t, cell, 10)
	if done != 10 || status != string(ct.StatusCompleted) {
		t.Errorf("the progress display ends at %d/10 nodes done, %s; want 10/10, COMPLETED", done, status)
	}
	mu.Lock()
	defer mu.Unlock()
	full, progress, streams := requests["/api/v1/dispatches/"+id], requests["/api/v1/dispatches/"+id+"/progress"], requests["/api/v1/events"]
	t.Logf("dispatch %s: %d full-result fetches, %d progress reads, %d event streams", id, full, progress, streams)
	if full != 1 {
		t.Errorf("%d full-result fetches of the dispatch; want 1, the cell's ct.GetResult", full)
	}
	if progress == 0 || streams == 0 {
		t.Errorf("%d progress reads and %d event streams: the display and the wait did not watch", progress, streams)
	}
}
