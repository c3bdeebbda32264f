package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The kernel runs the evaluators in its cache: a cache directory others can write is refused, before anything
// is read from it or built into it.
func TestEvaluatorCacheOthersCanWriteIsRefused(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777) // past the umask
	t.Setenv("GOVALENT_EVALUATOR_CACHE", shared)
	if _, err := evaluatorCacheDir(); err == nil || !strings.Contains(err.Error(), "only they can write") {
		t.Fatalf("a world-writable cache: %v", err)
	}
	own := filepath.Join(t.TempDir(), "own")
	t.Setenv("GOVALENT_EVALUATOR_CACHE", own)
	if dir, err := evaluatorCacheDir(); err != nil || dir != own {
		t.Fatalf("the user's own cache: %q %v", dir, err)
	}
	if st, err := os.Stat(own); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("made as %v, %v; want 0700", st.Mode(), err)
	}
}
