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
	"github.com/govalent/govalent/results/objects"
	"github.com/govalent/govalent/results/objects/s3test"
)

func settings(t *testing.T, ts ...ct.Transfer) map[string]json.RawMessage {
	raw, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]json.RawMessage{filetransfer.SettingKey: raw}
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
	s := settings(t,
		ct.FileTransfer("s3://bucket/inputs/a.csv", filepath.Join(dir, "in/a.csv")),
		ct.Transfer{From: web.URL + "/data/in.txt", To: filepath.Join(dir, "in/web.txt")}, // no order: before
		ct.FileTransfer(filepath.Join(dir, "out.txt"), "s3://bucket/outputs/out.txt", ct.TransferAfter),
		ct.FileTransfer(filepath.Join(dir, "out.txt"), web.URL+"/uploads/out.txt", ct.TransferAfter),
	)
	var seen []string
	out, err := filetransfer.Around(ctx, s, func() (json.RawMessage, error) {
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
		_, err := filetransfer.Around(context.Background(), settings(t, c.tr), func() (json.RawMessage, error) {
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
