package ct

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/govalent/govalent/ct/codec"
	"github.com/govalent/govalent/internal/credential"
)

// DefaultDispatcher is where the SDK looks for the dispatcher when GOVALENT_DISPATCHER is unset.
const DefaultDispatcher = "http://127.0.0.1:48008"

// DispatcherURL is the dispatcher address the SDK uses: GOVALENT_DISPATCHER or DefaultDispatcher.
func DispatcherURL() string {
	if u := os.Getenv("GOVALENT_DISPATCHER"); u != "" {
		return strings.TrimRight(u, "/")
	}
	return DefaultDispatcher
}

// Client talks to a dispatcher's HTTP API. The package-level functions use a client for DispatcherURL().
type Client struct {
	BaseURL string
	Token   string // sent as a bearer token; when empty, GOVALENT_TOKEN, else the token file the dispatcher made
	HTTP    *http.Client
}

// NewClient returns a client for the dispatcher at base.
func NewClient(base string) *Client {
	return &Client{BaseURL: strings.TrimRight(base, "/"), HTTP: &http.Client{}}
}

func defaultClient() *Client { return NewClient(DispatcherURL()) }

// Hooks for hosts of the SDK, such as the Jupyter kernel: the context the package-level functions run under
// (so that an interrupted cell stops waiting), observers told of each dispatch (for progress displays), and
// what to do when no dispatcher answers (start one).
var (
	hookMu      sync.Mutex
	callContext = context.Background()
	observers   = map[int]func(id string){}
	observerSeq int
	autostart   func() error
)

// SetCallContext makes the package-level functions give up when ctx is done.
func SetCallContext(ctx context.Context) {
	hookMu.Lock()
	callContext = ctx
	hookMu.Unlock()
}

func currentContext() context.Context {
	hookMu.Lock()
	defer hookMu.Unlock()
	return callContext
}

// OnDispatch calls f with the id of every dispatch made by ct.Dispatch or ct.DispatchSync until remove is
// called.
func OnDispatch(f func(id string)) (remove func()) {
	hookMu.Lock()
	defer hookMu.Unlock()
	observerSeq++
	key := observerSeq
	observers[key] = f
	return func() {
		hookMu.Lock()
		delete(observers, key)
		hookMu.Unlock()
	}
}

// SetAutostart sets what ct.Dispatch does when no dispatcher answers: start one, then try once more.
func SetAutostart(start func() error) {
	hookMu.Lock()
	autostart = start
	hookMu.Unlock()
}

func notifyDispatch(id string) {
	hookMu.Lock()
	fs := make([]func(string), 0, len(observers))
	for _, f := range observers {
		fs = append(fs, f)
	}
	hookMu.Unlock()
	for _, f := range fs {
		f(id)
	}
}

// Dispatch builds the workflow's graph for args and submits it; it returns the dispatch id at once.
func Dispatch(wf *Workflow, args ...any) (string, error) {
	c := defaultClient()
	id, err := c.Dispatch(wf, args...)
	if errors.Is(err, ErrUnreachable) {
		hookMu.Lock()
		start := autostart
		hookMu.Unlock()
		if start != nil {
			if serr := start(); serr != nil {
				return "", fmt.Errorf("%w; starting one failed: %v", err, serr)
			}
			id, err = c.Dispatch(wf, args...)
		}
	}
	if err == nil {
		notifyDispatch(id)
	}
	return id, err
}

// GetResult returns the dispatch's result; with wait it blocks until the dispatch has finished.
func GetResult(id string, wait bool) (*Result, error) {
	return defaultClient().GetResultContext(currentContext(), id, wait)
}

// Cancel cancels a whole dispatch, or only the given nodes (running ones are stopped).
func Cancel(id string, nodeIDs ...int) error { return defaultClient().Cancel(id, nodeIDs...) }

// DispatchSync dispatches and waits for the final result.
func DispatchSync(wf *Workflow, args ...any) (*Result, error) {
	id, err := Dispatch(wf, args...)
	if err != nil {
		return nil, err
	}
	return GetResult(id, true)
}

// Dispatch builds the workflow's graph for args and submits it.
func (c *Client) Dispatch(wf *Workflow, args ...any) (string, error) {
	if servingNative.Load() {
		return "", errors.New("ct: an electron running in a native worker cannot dispatch")
	}
	g, prog, err := BuildGraph(wf, args...)
	if err != nil {
		return "", err
	}
	if err := c.uploadExecutable(context.Background(), g); err != nil {
		return "", err
	}
	inputs, err := codec.Marshal(args)
	if err != nil {
		return "", fmt.Errorf("ct: lattice arguments: %w", err)
	}
	for _, n := range prog.Notes {
		fmt.Fprintln(os.Stderr, "govalent:", n)
	}
	return c.Submit(&DispatchRequest{Graph: *g, Program: prog, EncodedInputs: inputs})
}

// Submit sends an already built graph.
func (c *Client) Submit(req *DispatchRequest) (string, error) {
	var resp struct {
		DispatchID string `json:"dispatch_id"`
	}
	if err := c.do(context.Background(), http.MethodPost, "/api/v1/dispatches", req, &resp); err != nil {
		return "", err
	}
	return resp.DispatchID, nil
}

// DispatchSync dispatches and waits for the final result.
func (c *Client) DispatchSync(wf *Workflow, args ...any) (*Result, error) {
	id, err := c.Dispatch(wf, args...)
	if err != nil {
		return nil, err
	}
	return c.GetResult(id, true)
}

// GetResult fetches a dispatch; with wait it first waits until the dispatch has finished.
func (c *Client) GetResult(id string, wait bool) (*Result, error) {
	return c.GetResultContext(context.Background(), id, wait)
}

// GetResultContext is GetResult that gives up when ctx is done. It waits with Watch, which moves counts
// only, and fetches the whole result once.
func (c *Client) GetResultContext(ctx context.Context, id string, wait bool) (*Result, error) {
	for {
		if wait {
			if err := c.awaitEnd(ctx, id); err != nil {
				return nil, err
			}
		}
		var r Result
		if err := c.do(ctx, http.MethodGet, "/api/v1/dispatches/"+url.PathEscape(id)+"?values=encoded", nil, &r); err != nil {
			return nil, err
		}
		if !wait || r.Status.Finished() { // else Watch gave up, and the dispatcher answers again
			r.fillValues()
			return &r, nil
		}
	}
}

// awaitEnd returns once Watch has seen the dispatch finish, or has given up (the fetch that follows tells
// why).
func (c *Client) awaitEnd(ctx context.Context, id string) error {
	ch, err := c.Watch(ctx, id)
	if err != nil {
		return err
	}
	for range ch {
	}
	return ctx.Err()
}

// Cancel cancels a dispatch or some of its nodes.
func (c *Client) Cancel(id string, nodeIDs ...int) error {
	body := struct {
		Nodes []int `json:"nodes,omitempty"`
	}{nodeIDs}
	return c.do(context.Background(), http.MethodPost, "/api/v1/dispatches/"+url.PathEscape(id)+"/cancel", body, nil)
}

// Delete removes a finished dispatch and its nodes from the dispatcher's store; a running one is refused.
func (c *Client) Delete(id string) error {
	return c.do(context.Background(), http.MethodDelete, "/api/v1/dispatches/"+url.PathEscape(id), nil, nil)
}

// Collected is what CollectObjects deleted.
type Collected struct {
	Programs int `json:"programs"`
	Objects  int `json:"objects"`
}

// CollectObjects has the dispatcher delete the stored values and programs that no dispatch refers to any more
// (after Delete), that were written more than grace ago.
func (c *Client) CollectObjects(grace time.Duration) (Collected, error) {
	var out Collected
	err := c.do(context.Background(), http.MethodPost, "/api/v1/objects/collect?grace="+url.QueryEscape(grace.String()), nil, &out)
	return out, err
}

// List returns dispatch summaries (without nodes), newest first.
func (c *Client) List(status string, limit, offset int) ([]Result, int, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("offset", strconv.Itoa(offset))
	q.Set("values", "encoded")
	var resp struct {
		Items []Result `json:"items"`
		Total int      `json:"total"`
	}
	err := c.do(context.Background(), http.MethodGet, "/api/v1/dispatches?"+q.Encode(), nil, &resp)
	for i := range resp.Items {
		resp.Items[i].fillValues()
	}
	return resp.Items, resp.Total, err
}

// LoginLink asks the dispatcher for a one-time link that logs a browser into its web UI.
func (c *Client) LoginLink() (string, error) {
	var out struct {
		URL string `json:"url"`
	}
	err := c.do(context.Background(), http.MethodPost, "/api/v1/login-links", struct{}{}, &out)
	return out.URL, err
}

// Status returns the dispatcher's own status document.
func (c *Client) Status(v any) error {
	return c.do(context.Background(), http.MethodGet, "/api/v1/status", nil, v)
}

// APIError is an error answer of the dispatcher.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("dispatcher: %s (HTTP %d)", e.Message, e.Code) }

// ErrUnreachable means no dispatcher answered.
var ErrUnreachable = errors.New("no govalent dispatcher answers")

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, c.HTTP, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Stream GETs path for a long answer (a backup): no time limit but ctx's; the caller closes the body.
func (c *Client) Stream(ctx context.Context, path string) (*http.Response, error) {
	hc := *c.HTTP
	hc.Timeout = 0
	return c.send(ctx, &hc, http.MethodGet, path, nil)
}

// send makes a request with hc and returns the answer when it is a success; the caller closes its body.
func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	contentType := "application/json"
	switch body := body.(type) {
	case nil:
	case io.Reader: // sent as it is: an executable (uploadExecutable)
		rd, contentType = body, "application/octet-stream"
	default:
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("ct: encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	token := c.Token
	if token == "" { // read at each request: the dispatcher may make its token file after this client was made
		token = credential.Token()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w at %s (set GOVALENT_DISPATCHER, or start one with `govalent start`): %v", ErrUnreachable, c.BaseURL, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
	}
	return nil, &APIError{Code: resp.StatusCode, Message: e.Error}
}
