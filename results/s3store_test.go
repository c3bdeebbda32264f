package results

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/results/objects"
)

// With an S3 object store and the database outside the data directory, the data directory holds nothing a
// result needs: wiping it loses nothing, and a damaged or missing object is an error on its node.
func TestS3ObjectStore(t *testing.T) {
	s3test.Start(t, "results")
	dataDir, dbDir := t.TempDir(), t.TempDir()
	opts := Options{DB: filepath.Join(dbDir, "govalent.db"), ObjectStore: "s3://results/team/govalent"}
	open := func() *Manager {
		s, err := OpenWith(dataDir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return NewManager(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	m := open()
	big := json.RawMessage(`"` + strings.Repeat("s", InlineLimit+1) + `"`)
	small := json.RawMessage(`42`)
	logs := strings.Repeat("log line\n", InlineLimit/8)
	if err := m.CreateDispatch(t.Context(), &DispatchRecord{ID: "d", RootID: "d", ParentNode: -1, Status: ct.StatusRunning,
		Created: time.Now(), Inputs: big}, []byte(`{"nodes":[]}`), ct.Program{Source: "package main"}); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveSync(t.Context(), Batch{Nodes: []NodeRecord{
		{DispatchID: "d", NodeID: 0, NodeState: NodeState{Status: ct.StatusCompleted, Output: big}},
		{DispatchID: "d", NodeID: 1, NodeState: NodeState{Status: ct.StatusCompleted, Output: small}},
		{DispatchID: "d", NodeID: 2, NodeState: NodeState{Status: ct.StatusCompleted, Output: small, Stdout: string(logs), Stderr: "short"}},
	}}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}

	m = open()
	defer m.Close()
	d, err := m.Dispatch(t.Context(), "d")
	if err != nil || string(d.Inputs) != string(big) {
		t.Fatalf("inputs after wiping the data directory: %v", err)
	}
	nodes, err := m.Nodes(t.Context(), "d")
	if err != nil || len(nodes) != 3 || string(nodes[0].Output) != string(big) || string(nodes[1].Output) != "42" ||
		nodes[2].Stdout != logs || nodes[2].Stderr != "short" {
		t.Fatalf("nodes after wiping: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "objects")); len(entries) != 0 {
		t.Fatalf("large values went to the data directory: %v", entries)
	}
	st, err := objects.NewS3(context.Background(), opts.ObjectStore)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := objectCount(st); err != nil || n != 2 {
		t.Fatalf("%d objects in S3 (want the large value and the large log), %v", n, err)
	}
	ref := strings.TrimPrefix(string(mustRaw(t, m, "d")), objectMark)
	key := "team/govalent/" + ref
	if _, err := st.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &st.Bucket, Key: &key,
		Body: strings.NewReader(`"tampered"`)}); err != nil {
		t.Fatal(err)
	}
	nodes, err = m.Nodes(t.Context(), "d")
	if err != nil || nodes[0].Output != nil || !strings.Contains(nodes[0].Error, "digest mismatch") || string(nodes[1].Output) != "42" {
		t.Fatalf("tampered object: %+v, %v", nodes, err)
	}
	if _, err := st.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &st.Bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	nodes, err = m.Nodes(t.Context(), "d")
	if err != nil || !strings.Contains(nodes[0].Error, "missing or unreadable") || string(nodes[1].Output) != "42" {
		t.Fatalf("missing object: %+v, %v", nodes, err)
	}
	if _, err := m.Dispatch(t.Context(), "d"); err == nil || !strings.Contains(err.Error(), "missing or unreadable") {
		t.Fatalf("dispatch whose inputs object is gone: %v", err)
	}
}

// objectCount counts the objects under the store's prefix.
func objectCount(st *objects.S3) (int, error) {
	prefix := st.Prefix + "/"
	out, err := st.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &st.Bucket, Prefix: &prefix})
	if err != nil {
		return 0, err
	}
	return len(out.Contents), nil
}

// mustRaw reads node 0's output column as stored: the object reference.
func mustRaw(t *testing.T, m *Manager, id string) []byte {
	t.Helper()
	var raw []byte
	if err := m.db.QueryRow(`SELECT output FROM nodes WHERE dispatch_id=? AND node_id=0`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// On S3, collecting after a delete removes the dispatch's objects and nothing else under the prefix: native
// builds kept beside the objects (native/...) stay.
func TestCollectObjectsOnS3(t *testing.T) {
	s3test.Start(t, "results")
	s, err := OpenWith(t.TempDir(), Options{ObjectStore: "s3://results/team"})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer m.Close()
	big := json.RawMessage(`"` + strings.Repeat("s", InlineLimit+1) + `"`)
	if err := m.CreateDispatch(t.Context(), &DispatchRecord{ID: "d", RootID: "d", ParentNode: -1, Status: ct.StatusCompleted,
		Created: time.Now(), Inputs: big}, []byte(`{"nodes":[]}`), ct.Program{}); err != nil {
		t.Fatal(err)
	}
	st, err := objects.NewS3(t.Context(), "s3://results/team")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(t.Context(), "native/builds/k", strings.NewReader("hash")); err != nil {
		t.Fatal(err)
	}
	names := func() (n []string) {
		st.List(context.Background(), func(name string, _ time.Time) error { n = append(n, name); return nil })
		return n
	}
	if got := names(); len(got) != 1 {
		t.Fatalf("objects at the top before: %v", got)
	}
	if err := m.Delete(t.Context(), "d"); err != nil {
		t.Fatal(err)
	}
	if _, removed, err := m.CollectObjects(t.Context(), 0); err != nil || removed != 1 || len(names()) != 0 {
		t.Fatalf("removed %d, left %v: %v", removed, names(), err)
	}
	if ok, err := st.Exists(t.Context(), "native/builds/k"); !ok || err != nil {
		t.Fatalf("the native build key: %v %v", ok, err)
	}
}
