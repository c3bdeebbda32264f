// Package s3test starts a real S3-protocol server (gofakes3, in memory) on loopback for tests, and points the
// AWS SDK's standard configuration at it through the environment, as a user would with MinIO or LocalStack.
package s3test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running fake S3.
type Server struct {
	URL     string
	Backend *s3mem.Backend // for tests that tamper with stored objects
	parts   atomic.Int64

	mu   sync.Mutex
	hold chan struct{} // while set, PUT requests wait until it is closed
	held chan string   // told the path of each PUT that waits
}

// HoldPuts makes PUT requests wait until release is called (at the latest when the test ends); arrived is told
// the path of each one that waits. It stands for a slow upload.
func (s *Server) HoldPuts(t testing.TB) (arrived <-chan string, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hold, held := make(chan struct{}), make(chan string, 100)
	s.hold, s.held = hold, held
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold, s.held = nil, nil
			s.mu.Unlock()
			close(hold)
		})
	}
	t.Cleanup(release)
	return held, release
}

// wait holds a PUT while HoldPuts says so.
func (s *Server) wait(r *http.Request) {
	if r.Method != http.MethodPut {
		return
	}
	s.mu.Lock()
	hold, held := s.hold, s.held
	s.mu.Unlock()
	if hold == nil {
		return
	}
	select {
	case held <- r.URL.Path:
	default:
	}
	<-hold
}

// Parts counts the UploadPart requests served: the evidence that an upload went in parts.
func (s *Server) Parts() int64 { return s.parts.Load() }

// Start serves S3 on 127.0.0.1 until the test ends, creates buckets, and sets the AWS_* variables (static
// credentials, a region, AWS_ENDPOINT_URL_S3) for this process and the processes it starts. Tests that call it
// cannot run in parallel (t.Setenv).
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Backend: backend}
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			s.parts.Add(1)
		}
		s.wait(r)
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	noFile := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             noFile, // the developer's own profiles must not leak in
		"AWS_SHARED_CREDENTIALS_FILE": noFile,
		"AWS_ENDPOINT_URL_S3":         srv.URL,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	return s
}
