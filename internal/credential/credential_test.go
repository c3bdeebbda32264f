package credential

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "token")
	// Processes starting at once agree on one secret.
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := LoadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		}()
	}
	wg.Wait()
	for _, s := range got {
		if s != got[0] || len(s) != 64 {
			t.Fatalf("secrets %q", got)
		}
	}
	st, _ := os.Stat(path)
	dir, _ := os.Stat(filepath.Dir(path))
	if st.Mode().Perm() != 0o600 || dir.Mode().Perm() != 0o700 {
		t.Fatalf("modes %v %v", st.Mode(), dir.Mode())
	}
	if s, err := Read(path); s != got[0] || err != nil {
		t.Fatalf("read %q %v", s, err)
	}
	os.Chmod(path, 0o640)
	if _, err := LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a file others can read: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, err := LoadOrCreate(empty); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("an empty secret: %v", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(path, link)
	if _, err := ReadPrivate(link); err == nil {
		t.Fatal("a secret was read through a symlink")
	}
	if os.Geteuid() == 0 { // another user's file, 0600: refused even where it can be read
		theirs := filepath.Join(t.TempDir(), "theirs")
		os.WriteFile(theirs, []byte("their-secret\n"), 0o600)
		os.Chown(theirs, 65534, 65534)
		if _, err := ReadPrivate(theirs); err == nil || !strings.Contains(err.Error(), "another user") {
			t.Fatalf("another user's file: %v", err)
		}
	}
}

func TestTokenPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte("from-file\n"), 0o600)
	t.Setenv(TokenFileEnv, path)
	t.Setenv("GOVALENT_TOKEN", "")
	if Token() != "from-file" {
		t.Fatal(Token())
	}
	t.Setenv("GOVALENT_TOKEN", "from-env")
	if Token() != "from-env" {
		t.Fatal(Token())
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:S3cretPass@10.0.0.1:6379/0":  "redis://:xxxxx@10.0.0.1:6379/0",
		"rediss://user:S3cretPass@host:6380/1": "rediss://user:xxxxx@host:6380/1",
		"redis://host:6379":                    "redis://host:6379",
		"redis://:S3cret%zz@host":              "(unparsable URL)",
	} {
		if got := RedactURL(in); got != want || strings.Contains(got, "S3cret") {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
