// Package workerbin builds the govalent binary for tests that start real worker processes or dispatchers.
package workerbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/govalent/govalent/internal/credential"
)

// Main builds the binary, exposes its path through *path, runs the tests and removes the binary; call it from
// a package's TestMain. The tests' API token file is in the same temporary directory.
func Main(m *testing.M, path *string) {
	dir, err := os.MkdirTemp("", "govalent-bin-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*path = filepath.Join(dir, "govalent")
	// Dispatchers the tests start make their token here, and the tests' clients read it from here, rather than
	// from the user's own token file.
	if os.Getenv(credential.TokenFileEnv) == "" {
		os.Setenv(credential.TokenFileEnv, filepath.Join(dir, "token"))
	}
	build := exec.Command("go", "build", "-o", *path, "github.com/govalent/govalent/cmd/govalent")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building govalent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
