package filetransfer_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/executors/filetransfer"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/results/objects"
)

func settings(t *testing.T, ts ...ct.Transfer) map[string]json.RawMessage {
	raw, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]json.RawMessage{filetransfer.SettingKey: raw}
}

// allow lets the transfers of the test reach its loopback servers and its directories, as an operator would.
func allow(t *testing.T, dirs ...string) {
	t.Setenv(filetransfer.HostsEnv, "127.0.0.1")
	t.Setenv(filetransfer.DirsEnv, strings.Join(dirs, string(os.PathListSeparator)))
}

// webServer serves GET from and accepts PUT into files, except under /readonly/.
func webServer(t *testing.T) (*httptest.Server, map[string]string) {
	var mu sync.Mutex
	files := map[string]string{"/data/in.txt": "from the web"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodGet && files[r.URL.Path] != "":
			io.WriteString(w, files[r.URL.Path])
		case r.Method == http.MethodPut && !strings.HasPrefix(r.URL.Path, "/readonly/"):
			b, _ := io.ReadAll(r.Body)
			files[r.URL.Path] = string(b)
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodPut:
			http.Error(w, "read-only", http.StatusMethodNotAllowed)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, files
}

func TestTransfersAroundAnElectron(t *testing.T) {
	s3test.Start(t, "bucket")
	ctx := context.Background()
	st, err := objects.NewS3(ctx, "s3://bucket")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "inputs/a.csv", strings.NewReader("1,2,3")); err != nil {
		t.Fatal(err)
	}
	web, files := webServer(t)
	dir := t.TempDir()
	allow(t, dir)
	s := settings(t,
		ct.FileTransfer("s3://bucket/inputs/a.csv", filepath.Join(dir, "in/a.csv")),
		ct.Transfer{From: web.URL + "/data/in.txt", To: filepath.Join(dir, "in/web.txt")}, // no order: before
		ct.FileTransfer(filepath.Join(dir, "out.txt"), "s3://bucket/outputs/out.txt", ct.TransferAfter),
		ct.FileTransfer(filepath.Join(dir, "out.txt"), web.URL+"/uploads/out.txt", ct.TransferAfter),
	)
	var seen []string
	out, err := filetransfer.Around(ctx, s, func() ([]byte, error) {
		seen = ct.ArrivedFiles()
		a, _ := os.ReadFile(filepath.Join(dir, "in/a.csv"))
		w, _ := os.ReadFile(filepath.Join(dir, "in/web.txt"))
		return nil, os.WriteFile(filepath.Join(dir, "out.txt"), append(a, w...), 0o644)
	})
	if err != nil || out != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != filepath.Join(dir, "in/a.csv") || seen[1] != filepath.Join(dir, "in/web.txt") {
		t.Fatalf("ArrivedFiles: %v", seen)
	}
	if len(ct.ArrivedFiles()) != 0 {
		t.Fatal("ArrivedFiles outlives the electron")
	}
	r, err := st.Get(ctx, "outputs/out.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "1,2,3from the web" || files["/uploads/out.txt"] != "1,2,3from the web" {
		t.Fatalf("uploaded %q to S3 and %q by PUT", got, files["/uploads/out.txt"])
	}
}

func TestBadTransfersAreClearErrors(t *testing.T) {
	s3test.Start(t, "bucket")
	web, _ := webServer(t)
	dir := t.TempDir()
	allow(t, dir)
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	ran := false
	for _, c := range []struct {
		tr   ct.Transfer
		want string
	}{
		{ct.FileTransfer("s3://bucket/a", web.URL+"/b"), "remote-to-remote"},
		{ct.FileTransfer("s3://bucket/../etc/passwd", dir+"/x"), "path traversal"},
		{ct.FileTransfer("s3://bucket/a", dir+"/../../etc/x"), "path traversal"},
		{ct.FileTransfer("ftp://host/a", dir+"/x"), "unsupported scheme"},
		{ct.FileTransfer("s3://bucket/missing", dir+"/x"), "object missing"},
		{ct.FileTransfer(web.URL+"/nothing", dir+"/x"), "404"},
		{ct.FileTransfer(filepath.Join(dir, "f"), web.URL+"/readonly/f", ct.TransferAfter), "405"},
		{ct.FileTransfer(filepath.Join(dir, "none"), "s3://bucket/x"), "no such file"},
		{ct.Transfer{From: "a", To: "b", Order: "sometime"}, "order"},
	} {
		_, err := filetransfer.Around(context.Background(), settings(t, c.tr), func() ([]byte, error) {
			ran = ran || c.tr.Order == ct.TransferBefore
			return nil, nil
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.tr, err, c.want)
		}
	}
	if ran {
		t.Fatal("an electron ran although its input transfer failed")
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Fatal("a failed download left a file")
	}
}

// Local paths stay in the working directory (or an allowed one): absolute paths, "..", and symlinks that lead
// out are refused, for reading and for writing; a symlink that stays inside is followed.
func TestLocalPathsStayInside(t *testing.T) {
	s3test.Start(t, "bucket")
	ctx := context.Background()
	st, err := objects.NewS3(ctx, "s3://bucket")
	if err != nil {
		t.Fatal(err)
	}
	st.Put(ctx, "in", strings.NewReader("payload"))
	outside, work, allowed := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	os.MkdirAll(filepath.Join(work, "sub"), 0o755)
	os.WriteFile(filepath.Join(work, "sub", "f"), []byte("inside"), 0o644)
	for _, l := range [][2]string{{outside, "out"}, {filepath.Join(outside, "secret"), "secret"}, {"sub", "in"},
		{filepath.Join(work, "sub"), "abs-in"}} {
		if err := os.Symlink(l[0], filepath.Join(work, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(outside, filepath.Join(allowed, "out"))
	t.Chdir(work)
	t.Setenv(filetransfer.DirsEnv, allowed)
	for _, c := range []struct{ from, to, want string }{
		{filepath.Join(outside, "secret"), "s3://bucket/x", "absolute path"},
		{"s3://bucket/in", filepath.Join(outside, "new"), "absolute path"},
		{"s3://bucket/in", "/etc/govalent-test", "absolute path"},
		{"../" + filepath.Base(outside) + "/secret", "s3://bucket/x", "path traversal"},
		{"sub/../../x", "s3://bucket/x", "path traversal"},
		{"out/secret", "s3://bucket/x", "escapes"},
		{"secret", "s3://bucket/x", "escapes"},
		{"s3://bucket/in", "out/new", "escapes"},
		{"abs-in/f", "s3://bucket/x", "escapes"}, // an absolute link, even to inside, is refused by os.Root
		{"s3://bucket/in", filepath.Join(allowed, "out", "new"), "escapes"},
	} {
		err := filetransfer.Copy(ctx, c.from, c.to)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: %v, want an error with %q", c.from, c.to, err, c.want)
		}
	}
	// Writing onto a symlink replaces the link (the file is renamed into place), not what it points to.
	if err := filetransfer.Copy(ctx, "s3://bucket/in", "secret"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Fatalf("the file outside was overwritten: %q", b)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("files appeared outside: %v", entries)
	}
	// What is allowed works: a symlink inside, a relative path, an absolute path in an allowed directory.
	for _, c := range [][2]string{{"in/f", "s3://bucket/a"}, {"s3://bucket/a", "copies/a"},
		{"s3://bucket/a", filepath.Join(allowed, "a")}, {filepath.Join(allowed, "a"), "s3://bucket/b"}} {
		if err := filetransfer.Copy(ctx, c[0], c[1]); err != nil {
			t.Fatalf("%s -> %s: %v", c[0], c[1], err)
		}
	}
	for _, f := range []string{filepath.Join(work, "copies", "a"), filepath.Join(allowed, "a")} {
		if b, _ := os.ReadFile(f); string(b) != "inside" {
			t.Fatalf("%s holds %q", f, b)
		}
	}
}

// HTTP transfers may not reach loopback, private, link-local or unspecified addresses, by address, by name
// or by redirect, unless the operator allows the address.
func TestHTTPReachesOnlyPublicAddresses(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
			return
		}
		io.WriteString(w, "served")
	}))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	t.Chdir(t.TempDir())
	t.Setenv(filetransfer.HostsEnv, "")
	ctx := context.Background()
	for _, c := range []struct{ url, want string }{
		{srv.URL + "/direct", "address 127.0.0.1 is loopback"},
		{"http://localhost:" + port + "/byname", "is loopback"},
		{"http://[::1]:" + port + "/v6", "address ::1 is loopback"},
		{"http://0.0.0.0:" + port + "/any", "address 0.0.0.0 is unspecified"},
		{"http://[::]:" + port + "/any6", "address :: is unspecified"},
		{"http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is link-local"},
		{"http://[fe80::1%25lo]:" + port + "/ll6", "is link-local"},
		{"http://10.0.0.1/x", "address 10.0.0.1 is private"},
		{"http://192.168.1.1/x", "address 192.168.1.1 is private"},
		{"http://100.100.100.200/x", "address 100.100.100.200 is private"},
		{"http://[::ffff:127.0.0.1]:" + port + "/mapped", "address 127.0.0.1 is loopback"},
	} {
		err := filetransfer.Copy(ctx, c.url, "got")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.url, err, c.want)
		}
		if err := filetransfer.Copy(ctx, "got", c.url); err == nil {
			t.Errorf("upload to %s was not refused", c.url)
		}
	}
	hits.Range(func(k, _ any) bool { t.Errorf("the server was reached: %s", k); return true })
	if _, err := os.Stat("got"); err == nil {
		t.Fatal("a refused download left a file")
	}
	// Allowed by the operator: 127.0.0.1, and only that; a redirect from it to another loopback address is
	// checked when that address is dialled.
	t.Setenv(filetransfer.HostsEnv, "127.0.0.1")
	if err := filetransfer.Copy(ctx, srv.URL+"/allowed", "got"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile("got"); string(b) != "served" {
		t.Fatalf("got %q", b)
	}
	err := filetransfer.Copy(ctx, srv.URL+"/redirect?to=http://127.0.0.2:"+port+"/other", "got2")
	if err == nil || !strings.Contains(err.Error(), "address 127.0.0.2 is loopback") {
		t.Fatalf("redirect to loopback: %v", err)
	}
	if _, ok := hits.Load("/redirect"); !ok {
		t.Fatal("the redirect was not served")
	}
	t.Setenv(filetransfer.HostsEnv, "127.0.0.0/8, ::1")
	if err := filetransfer.Copy(ctx, "http://[::1]:"+port+"/v6", "got3"); err != nil && !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("an allowed ::1: %v", err) // httptest listens on 127.0.0.1 only: refused by the kernel, not the policy
	}
	t.Setenv(filetransfer.HostsEnv, "not-an-address")
	if err := filetransfer.Copy(ctx, srv.URL+"/x", "got4"); err == nil || !strings.Contains(err.Error(), "GOVALENT_TRANSFER_HOSTS") {
		t.Fatalf("a bad allow-list: %v", err)
	}
}
