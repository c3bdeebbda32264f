package dispatcher_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/internal/credential"
)

// send makes a request with headers given as name, value pairs ("Host" sets the request's host); the caller
// closes the body. It carries the user's token, as the SDK would, unless an Authorization header is given.
func send(t *testing.T, method, url, body string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+credential.Token())
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// request sends a JSON request and returns the status and the JSON answer.
func request(t *testing.T, method, url, body string, header ...string) (int, map[string]any) {
	t.Helper()
	resp := send(t, method, url, body, append([]string{"Content-Type", "application/json"}, header...)...)
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: the answer is not JSON: %q", method, url, data)
	}
	return resp.StatusCode, out
}

// Bad input gets a 4xx with a JSON error and the dispatcher keeps working.
func TestAPIRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	api := e.url + "/api/v1"
	oneNode := `{"graph":{"name":"x","nodes":[{"node_id":0,"name":"a","kind":"list"}],"output":{"node":0}}}`
	cases := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"bad json", "POST", "/dispatches", `{"graph":`, 400, "invalid JSON"},
		{"not an object", "POST", "/dispatches", `[1,2]`, 400, "invalid JSON"},
		{"oversized", "POST", "/dispatches", `{"inputs":"` + strings.Repeat("x", 9<<20) + `"}`, 413, "larger than"},
		{"cycle", "POST", "/dispatches", `{"graph":{"nodes":[{"node_id":0,"kind":"list","args":[{"node":1}]},{"node_id":1,"kind":"list","args":[{"node":0}]}]}}`, 400, "cycle"},
		{"dangling ref", "POST", "/dispatches", `{"graph":{"nodes":[{"node_id":0,"kind":"list","args":[{"node":7}]}]}}`, 400, "does not exist"},
		{"bad ids", "POST", "/dispatches", `{"graph":{"nodes":[{"node_id":3,"kind":"list"}]}}`, 400, "ids must be"},
		{"unknown kind", "POST", "/dispatches", `{"graph":{"nodes":[{"node_id":0,"kind":"rocket"}]}}`, 400, "unknown kind"},
		{"electron without entry", "POST", "/dispatches", `{"graph":{"nodes":[{"node_id":0,"kind":"electron"}]}}`, 400, "no entry"},
		{"unknown id", "GET", "/dispatches/nope", "", 404, "not found"},
		{"unknown node", "GET", "/dispatches/nope/nodes/1", "", 404, "not found"},
		{"bad node id", "GET", "/dispatches/nope/nodes/x", "", 400, "bad node id"},
		{"bad wait", "GET", "/dispatches/nope?wait=soon", "", 400, "bad wait"},
		{"cancel unknown", "POST", "/dispatches/nope/cancel", "", 404, "not found"},
		{"cancel bad json", "POST", "/dispatches/nope/cancel", "{", 400, "invalid JSON"},
		{"delete unknown", "DELETE", "/dispatches/nope", "", 404, "not found"},
		{"no such endpoint", "GET", "/nothing", "", 404, "no such endpoint"},
		{"wrong method", "PUT", "/dispatches", "", 405, "not allowed"},
	}
	for _, c := range cases {
		code, body := request(t, c.method, api+c.path, c.body)
		if code != c.code || !strings.Contains(body["error"].(string), c.msg) {
			t.Errorf("%s: %d %v, want %d %q", c.name, code, body, c.code, c.msg)
		}
	}
	// a valid graph still works afterwards, and a node of it can be fetched
	code, body := request(t, "POST", api+"/dispatches", oneNode)
	if code != 201 {
		t.Fatalf("valid dispatch: %d %v", code, body)
	}
	id := body["dispatch_id"].(string)
	res, err := e.client().GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || string(res.RawResult) != "[]" {
		t.Fatalf("%+v %v", res, err)
	}
	if code, body := request(t, "GET", api+"/dispatches/"+id+"/nodes/0", ""); code != 200 || body["status"] != "COMPLETED" {
		t.Fatalf("node: %d %v", code, body)
	}
	if code, body := request(t, "POST", api+"/dispatches/"+id+"/cancel", ""); code != 400 || !strings.Contains(body["error"].(string), "already finished") {
		t.Fatalf("cancel finished: %d %v", code, body)
	}
	if code, _ := request(t, "DELETE", api+"/dispatches/"+id, ""); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := request(t, "GET", api+"/dispatches/"+id, ""); code != 404 {
		t.Fatalf("deleted dispatch still there: %d", code)
	}
}

// The dispatcher always wants a credential: with none configured it makes a token in a file only its owner
// can read, which the user's own clients find.
func TestAPIToken(t *testing.T) {
	e := newEnv(t)
	path := os.Getenv(credential.TokenFileEnv)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v", path, st, err)
	}
	api := e.url + "/api/v1/dispatches"
	for _, auth := range []string{"", "Bearer ", "Bearer wrong", "Basic " + credential.Token()} {
		if code, _ := request(t, "GET", api, "", "Authorization", auth); code != 401 {
			t.Fatalf("%q: %d", auth, code)
		}
	}
	if code, _ := request(t, "GET", api, ""); code != 200 {
		t.Fatalf("the file's token: %d", code)
	}
	if code, _ := request(t, "GET", e.url+"/healthz", "", "Authorization", ""); code != 200 {
		t.Fatalf("healthz needs no token: %d", code)
	}
	// A token given in the configuration wins over the file.
	e2, _ := startEnv(t, dispatcher.Config{Token: "s3cret"})
	if code, _ := request(t, "GET", e2.url+"/api/v1/dispatches", "", "Authorization", "Bearer s3cret"); code != 200 {
		t.Fatalf("configured token: %d", code)
	}
	if code, _ := request(t, "GET", e2.url+"/api/v1/dispatches", ""); code != 401 {
		t.Fatalf("the file's token where another is configured: %d", code)
	}
	// A token file others can read is refused, not trusted.
	loose := filepath.Join(t.TempDir(), "token")
	os.WriteFile(loose, []byte("abc\n"), 0o644)
	if _, err := dispatcher.New(dispatcher.Config{DataDir: t.TempDir(), TokenFile: loose, Executors: testExecutors(t, nil)}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose token file: %v", err)
	}
}

// A login link logs a browser in once: it sets a session cookie (not the token) that the API accepts, and
// sends the browser on within this site only.
func TestLoginLink(t *testing.T) {
	e := newEnv(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	code, out := request(t, "POST", e.url+"/api/v1/login-links", "")
	link, _ := out["url"].(string)
	if code != 201 || !strings.HasPrefix(link, e.url+"/login?code=") {
		t.Fatalf("login link: %d %v", code, out)
	}
	if code, _ := request(t, "POST", e.url+"/api/v1/login-links", "", "Authorization", ""); code != 401 {
		t.Fatalf("a login link without the token: %d", code)
	}
	resp, err := noRedirect.Get(link + "&next=//evil.example/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), cookies)
	}
	if strings.Contains(cookies[0].Value, credential.Token()) {
		t.Fatal("the cookie holds the token")
	}
	withCookie := func(u string) *http.Response {
		req, _ := http.NewRequest("GET", u, nil)
		req.AddCookie(cookies[0])
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := withCookie(e.url + "/api/v1/dispatches"); resp.StatusCode != 200 {
		t.Fatalf("API with the session cookie: %d", resp.StatusCode)
	}
	// The code is spent: without the cookie it no longer logs in; with it, the browser is sent on.
	if resp, err := noRedirect.Get(link); err != nil || resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Fatalf("a spent code: %v %v", resp, err)
	}
	if resp := withCookie(link + "&next=" + url.QueryEscape("/#/dispatches/x")); resp.StatusCode != 303 || resp.Header.Get("Location") != "/#/dispatches/x" {
		t.Fatalf("logged in already: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, err := noRedirect.Get(e.url + "/login?code=made-up"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("a made-up code: %v %v", resp, err)
	}
}

func TestListFilterAndPaging(t *testing.T) {
	e := newEnv(t)
	e.cell(`import "errors"
func Ok() int { return 1 }
func Bad() (int, error) { return 0, errors.New("bad") }
var okE = ct.Electron(Ok)
var badE = ct.Electron(Bad)
var good = ct.Lattice(func() ct.Future { return okE() }, ct.Name("good"))
var failing = ct.Lattice(func() ct.Future { return badE() }, ct.Name("failing"))
for i := 0; i < 3; i++ { ct.DispatchSync(good) }
for i := 0; i < 2; i++ { ct.DispatchSync(failing) }`)
	c := e.client()
	all, total, err := c.List("", 2, 0)
	if err != nil || total != 5 || len(all) != 2 || all[0].Name != "failing" {
		t.Fatalf("page 1: %d %d %v", total, len(all), err)
	}
	failed, total, err := c.List("FAILED", 10, 0)
	if err != nil || total != 2 || len(failed) != 2 || failed[0].Status != ct.StatusFailed || !strings.Contains(failed[0].Error, "(Bad): bad") {
		t.Fatalf("failed: %d %+v %v", total, failed, err)
	}
	last, _, _ := c.List("", 2, 4)
	if len(last) != 1 || last[0].Name != "good" {
		t.Fatalf("last page: %+v", last)
	}
}

func TestEventStream(t *testing.T) {
	e := newEnv(t)
	want := []string{"dispatch:RUNNING", "node:RUNNING", "node:COMPLETED", "dispatch:COMPLETED"}
	if seen := e.eventsOfOneDispatch("", len(want)); strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", seen, want)
	}
}

// Event streams beyond the configured cap are refused with a 503 and a JSON error; a closed stream frees its
// place.
func TestEventStreamCap(t *testing.T) {
	e, _ := startEnv(t, dispatcher.Config{MaxEventSubscribers: 2})
	open := func() *http.Response {
		t.Helper()
		resp := send(t, "GET", e.url+"/api/v1/events", "")
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 {
			t.Fatalf("stream refused: %d", resp.StatusCode)
		}
		return resp
	}
	first := open()
	open()
	code, body := request(t, "GET", e.url+"/api/v1/events", "")
	if code != 503 || !strings.Contains(body["error"].(string), "too many event-stream subscribers (the limit is 2)") {
		t.Fatalf("third stream: %d %v", code, body)
	}
	first.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, st := request(t, "GET", e.url+"/api/v1/status", ""); st["event_subscribers"] == 1.0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("a closed stream still counts: %v", st)
		}
	}
	open()
}

// eventsOfOneDispatch subscribes to the event stream (with query, e.g. "?type=dispatch"), runs a one-electron
// lattice and returns the first n events of its dispatch as "type:STATUS".
func (e *env) eventsOfOneDispatch(query string, n int) []string {
	e.t.Helper()
	resp := send(e.t, "GET", e.url+"/api/v1/events"+query, "")
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatal(resp.Header)
	}
	events := make(chan dispatcher.Event, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev dispatcher.Event
				json.Unmarshal([]byte(data), &ev)
				events <- ev
			}
		}
	}()
	e.cell(`func One() int { return 1 }
var one = ct.Electron(One)
res, err := ct.DispatchSync(ct.Lattice(func() ct.Future { return one() }))`)
	id := e.result("res").DispatchID
	var seen []string
	timeout := time.After(5 * time.Second)
	for len(seen) < n {
		select {
		case ev := <-events:
			if ev.DispatchID == id {
				seen = append(seen, ev.Type+":"+string(ev.Status))
			}
		case <-timeout:
			e.t.Fatalf("events so far: %v", seen)
		}
	}
	return seen
}

// A web page in the user's browser must not reach the API: it cannot know the token, and the session cookie
// of the web UI is not sent with, or not enough for, a cross-site request.
func TestAPIRefusesCrossSiteRequests(t *testing.T) {
	e := newEnv(t)
	api := e.url + "/api/v1/dispatches"
	body := `{"graph":{"nodes":[]}}`
	if code, b := request(t, "POST", api, body, "Content-Type", "text/plain"); code != 415 {
		t.Fatalf("text/plain post: %d %v", code, b)
	}
	if code, b := request(t, "POST", api, body, "Content-Type", "application/json", "Origin", "https://evil.example"); code != 403 {
		t.Fatalf("foreign origin: %d %v", code, b)
	}
	if code, b := request(t, "GET", api, "", "Host", "evil.example", "Authorization", ""); code != 401 {
		t.Fatalf("rebinding host: %d %v", code, b)
	}
	if code, b := request(t, "POST", api, body, "Content-Type", "application/json", "Origin", "http://127.0.0.1:8888"); code != 201 {
		t.Fatalf("loopback page: %d %v", code, b)
	}
}
