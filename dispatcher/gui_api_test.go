package dispatcher_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govalent/govalent/dispatcher"
)

// get fetches url, discarding the body.
func get(t *testing.T, url string, header ...string) *http.Response {
	t.Helper()
	resp := send(t, "GET", url, "", header...)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// The web UI is served at / beside the API, which keeps its JSON answers, and only to loopback names.
func TestGUIIsServedBesideTheAPI(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/", "/assets/app.js", "/assets/graph.js", "/assets/style.css"} {
		resp := get(t, e.url+path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	if ct := get(t, e.url+"/").Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("/ is %s", ct)
	}
	for _, path := range []string{"/api/v1/nope", "/nope", "/index.html"} {
		if code, body := request(t, "GET", e.url+path, ""); code != 404 || body["error"] == nil {
			t.Fatalf("%s: %d %v", path, code, body)
		}
	}
	if resp := get(t, e.url+"/assets/nope.js"); resp.StatusCode != 404 {
		t.Fatalf("unknown asset: %d", resp.StatusCode)
	}
	if code, body := request(t, "GET", e.url+"/healthz", ""); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	// The pages hold no data and load under any name; the API behind them needs the token whatever the name.
	if resp := get(t, e.url+"/", "Host", "evil.example"); resp.StatusCode != 200 {
		t.Fatalf("UI to another host name: %d", resp.StatusCode)
	}
	if code, _ := request(t, "GET", e.url+"/api/v1/dispatches", "", "Host", "evil.example", "Authorization", ""); code != 401 {
		t.Fatalf("API to a rebinding host without the token: %d", code)
	}
}

// With a token, the pages load anywhere (they hold no data), the API needs the token, and the UI's own
// requests (same origin, not loopback) are accepted.
func TestGUIWithToken(t *testing.T) {
	e, _ := startEnv(t, dispatcher.Config{Token: "s3cret"})
	if resp := get(t, e.url+"/", "Host", "gpu-box.lan:48008"); resp.StatusCode != 200 {
		t.Fatalf("UI with a token: %d", resp.StatusCode)
	}
	api := e.url + "/api/v1/dispatches"
	if code, _ := request(t, "GET", api, "", "Host", "gpu-box.lan:48008"); code != 401 {
		t.Fatalf("API without the token: %d", code)
	}
	body := `{"graph":{"nodes":[{"node_id":0,"name":"a","kind":"list"}],"output":{"node":0}}}`
	if code, b := request(t, "POST", api, body, "Host", "gpu-box.lan:48008", "Origin", "http://gpu-box.lan:48008", "Authorization", "Bearer s3cret"); code != 201 {
		t.Fatalf("same-origin post with the token: %d %v", code, b)
	}
	if code, b := request(t, "POST", api, body, "Host", "gpu-box.lan:48008", "Origin", "http://evil.example", "Authorization", "Bearer s3cret"); code != 403 {
		t.Fatalf("cross-origin post: %d %v", code, b)
	}
}

func TestSummaryGraphAndProgram(t *testing.T) {
	e := newEnv(t)
	e.cell(`import "errors"
func Add(a, b int) int { return a + b }
func Bad() (int, error) { return 0, errors.New("bad <input>") }
var add = ct.Electron(Add)
var bad = ct.Electron(Bad)
var good = ct.Lattice(func() ct.Future { return add(add(1, 2), 3) }, ct.Name("good"))
var failing = ct.Lattice(func() ct.Future { return bad() }, ct.Name("failing"))
res, _ := ct.DispatchSync(good)
failed, _ := ct.DispatchSync(failing)`)
	goodID, failedID := e.result("res").DispatchID, e.result("failed").DispatchID
	var sum struct {
		Summary struct {
			Counts    map[string]int `json:"counts"`
			Total     int            `json:"total"`
			ComputeNS int64          `json:"compute_ns"`
			WallNS    int64          `json:"wall_ns"`
		} `json:"summary"`
		RecentFailures []struct {
			ID    string `json:"dispatch_id"`
			Error string `json:"error"`
		} `json:"recent_failures"`
		RunningNow int `json:"running_now"`
	}
	getJSON(t, e.url+"/api/v1/summary", 200, &sum)
	s := sum.Summary
	if s.Total != 2 || s.Counts["COMPLETED"] != 1 || s.Counts["FAILED"] != 1 || s.ComputeNS <= 0 || s.WallNS < s.ComputeNS/2 || sum.RunningNow != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if len(sum.RecentFailures) != 1 || sum.RecentFailures[0].ID != failedID || !strings.Contains(sum.RecentFailures[0].Error, "bad <input>") {
		t.Fatalf("recent failures %+v", sum.RecentFailures)
	}

	var g struct {
		Nodes []struct {
			Name  string `json:"name"`
			Entry string `json:"entry"`
			Args  []struct {
				Name string `json:"name"`
				Node *int   `json:"node"`
			} `json:"args"`
		} `json:"nodes"`
	}
	getJSON(t, e.url+"/api/v1/dispatches/"+goodID+"/graph", 200, &g)
	if len(g.Nodes) != 2 || g.Nodes[1].Args[0].Node == nil || *g.Nodes[1].Args[0].Node != 0 || g.Nodes[1].Args[0].Name == "" || g.Nodes[0].Entry == "" {
		t.Fatalf("graph %+v", g)
	}
	var prog struct{ Source, Hash string }
	getJSON(t, e.url+"/api/v1/dispatches/"+goodID+"/program", 200, &prog)
	if !strings.Contains(prog.Source, "func Add(a, b int) int") || prog.Hash == "" {
		t.Fatalf("program %+v", prog)
	}
	for _, path := range []string{"/graph", "/program"} {
		if code, body := request(t, "GET", e.url+"/api/v1/dispatches/nope"+path, ""); code != 404 || !strings.Contains(body["error"].(string), "not found") {
			t.Fatalf("%s of an unknown dispatch: %d %v", path, code, body)
		}
	}
}

func getJSON(t *testing.T, url string, code int, v any) {
	t.Helper()
	resp := send(t, "GET", url, "")
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, data)
	}
}

func TestLogTail(t *testing.T) {
	e := newEnv(t)
	api := e.url + "/api/v1/logs"
	if code, body := request(t, "GET", api, ""); code != 404 || !strings.Contains(body["error"].(string), "--foreground") {
		t.Fatalf("no log file: %d %v", code, body)
	}
	path := filepath.Join(e.dir, dispatcher.LogFileName)
	if err := os.WriteFile(path, []byte("line one\nline two\nline three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type tail struct {
		Text      string `json:"text"`
		Size      int64  `json:"size"`
		Next      int64  `json:"next_offset"`
		Truncated bool   `json:"truncated"`
		Reset     bool   `json:"reset"`
	}
	var all, end, more tail
	getJSON(t, api, 200, &all)
	if all.Text != "line one\nline two\nline three\n" || all.Truncated || all.Next != all.Size || all.Size != 29 {
		t.Fatalf("whole log: %+v", all)
	}
	getJSON(t, api+"?bytes=15", 200, &end) // "two\nline three\n": the cut line is dropped
	if end.Text != "line three\n" || !end.Truncated || end.Next != 29 {
		t.Fatalf("tail: %+v", end)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("line four\n")
	f.Close()
	getJSON(t, api+"?offset=29", 200, &more)
	if more.Text != "line four\n" || more.Next != 39 {
		t.Fatalf("follow: %+v", more)
	}
	getJSON(t, api+"?offset=1000", 200, &more) // the log was replaced by a shorter one: tail it afresh
	if more.Text != "line one\nline two\nline three\nline four\n" || !more.Reset || more.Truncated {
		t.Fatalf("offset past the end: %+v", more)
	}
	getJSON(t, api+"?offset=1000&bytes=15", 200, &more) // "hree\nline four\n": the cut line is dropped
	if more.Text != "line four\n" || !more.Reset || !more.Truncated {
		t.Fatalf("offset past the end, tail: %+v", more)
	}
	getJSON(t, api+"?offset=0&bytes=15", 200, &more) // a follow-up stops at a line end
	if more.Text != "line one\n" || more.Next != 9 || more.Truncated {
		t.Fatalf("follow with a limit: %+v", more)
	}
	for _, q := range []string{"?bytes=0", "?bytes=x", "?offset=-1"} {
		if code, body := request(t, "GET", api+q, ""); code != 400 || body["error"] == nil {
			t.Fatalf("%s: %d %v", q, code, body)
		}
	}
}

// ?type=dispatch leaves node events out, for pages that list dispatches.
func TestEventTypeFilter(t *testing.T) {
	e := newEnv(t)
	if code, body := request(t, "GET", e.url+"/api/v1/events?type=bogus", ""); code != 400 || !strings.Contains(body["error"].(string), "bogus") {
		t.Fatalf("bad type: %d %v", code, body)
	}
	seen := e.eventsOfOneDispatch("?type=dispatch", 2)
	if strings.Join(seen, " ") != "dispatch:RUNNING dispatch:COMPLETED" {
		t.Fatalf("events %v", seen)
	}
}
