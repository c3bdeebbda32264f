package objects_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/govalent/govalent/internal/testkit/s3test"
	"github.com/govalent/govalent/results/objects"
)

// stores returns one store of each kind: a local directory and an S3 prefix on a real S3-protocol server.
func stores(t *testing.T) map[string]objects.Store {
	s3test.Start(t, "bucket")
	dir, err := objects.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s3s, err := objects.Open(context.Background(), "s3://bucket/some/prefix", "")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]objects.Store{"dir": dir, "s3": s3s}
}

func TestStoresKeepAndStream(t *testing.T) {
	ctx := context.Background()
	for kind, st := range stores(t) {
		t.Run(kind, func(t *testing.T) {
			if ok, err := st.Exists(ctx, "a/b"); ok || err != nil {
				t.Fatalf("exists before put: %v %v", ok, err)
			}
			if err := st.Put(ctx, "a/b", strings.NewReader("hello")); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.Exists(ctx, "a/b"); !ok || err != nil {
				t.Fatalf("exists after put: %v %v", ok, err)
			}
			r, err := st.Get(ctx, "a/b")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(got) != "hello" {
				t.Fatalf("got %q, %v", got, err)
			}
			if _, err := st.Get(ctx, "nothing/here"); !errors.Is(err, objects.ErrMissing) {
				t.Fatalf("missing object: %v", err)
			}
			for _, bad := range []string{"../escape", "a/../../b", "/abs"} {
				if err := st.Put(ctx, bad, strings.NewReader("x")); err == nil {
					t.Fatalf("name %q accepted", bad)
				}
			}
		})
	}
}

func TestS3LargeObjectGoesInParts(t *testing.T) {
	srv := s3test.Start(t, "bucket")
	ctx := context.Background()
	st, err := objects.NewS3(ctx, "s3://bucket/p")
	if err != nil {
		t.Fatal(err)
	}
	st.PartSize = 5 << 20
	data := make([]byte, 12<<20+123) // three parts, the last short
	rand.Read(data)
	if err := st.Put(ctx, "big", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if n := srv.Parts(); n != 3 {
		t.Fatalf("%d parts uploaded, want 3", n)
	}
	r, err := st.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (want %d), %v", len(got), len(data), err)
	}
}

func TestS3BadLocations(t *testing.T) {
	s3test.Start(t, "bucket")
	ctx := context.Background()
	for _, bad := range []string{"s3://", "s3:///key", "s3://b/../x", "gs://bucket"} {
		if _, err := objects.Open(ctx, bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := objects.Open(ctx, "s3://no-such-bucket/p", ""); err == nil || !strings.Contains(err.Error(), "the bucket cannot be reached") {
		t.Fatalf("opening a store in a missing bucket: %v", err)
	}
	st, err := objects.NewS3(ctx, "s3://no-such-bucket/p")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "x", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("put to a missing bucket: %v", err)
	}
}

func TestDirNamesBlobsByDigest(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir()
	dir, err := objects.NewDir(path)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	asked := ""
	name, err := dir.PutHashed(ctx, data, func(name string) bool { asked = name; return false })
	if err != nil || name != want || asked != want {
		t.Fatalf("PutHashed: %q (asked about %q), %v; want %q", name, asked, err, want)
	}
	r, err := dir.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("the blob read back differs")
	}
	// A blob kept already is not written again, and leaves no temporary file.
	other := append([]byte(nil), data...)
	other[0]++
	name, err = dir.PutHashed(ctx, other, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := dir.Exists(ctx, name); ok {
		t.Fatal("a blob said to be kept was written")
	}
	if entries, _ := os.ReadDir(path); len(entries) != 1 {
		t.Fatalf("the directory holds %d entries, want the one blob", len(entries))
	}
}
