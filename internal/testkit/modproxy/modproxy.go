// Package modproxy serves Go modules to tests without a network: it lays out module directories as a file-system
// module proxy (GOPROXY=file:///...), the layout the go command reads from any proxy ($module/@v/list,
// $version.info, .mod, .zip), so `go get` and builds resolve them exactly as they would from proxy.golang.org.
package modproxy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// Module is one version of a module to serve: Dir holds its source, with its go.mod.
type Module struct {
	Path, Version, Dir string
}

// New writes the proxy for the modules into a temporary directory and returns the GOPROXY value that serves it.
// Modules listed for one path in several versions are all served.
func New(t testing.TB, mods ...Module) string {
	t.Helper()
	root := t.TempDir()
	versions := map[string][]string{}
	for _, m := range mods {
		if err := add(root, m); err != nil {
			t.Fatalf("modproxy: %s@%s: %v", m.Path, m.Version, err)
		}
		versions[m.Path] = append(versions[m.Path], m.Version)
	}
	for path, vs := range versions {
		dir, err := escapedDir(root, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "list"), []byte(strings.Join(vs, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return "file://" + filepath.ToSlash(root)
}

func escapedDir(root, path string) (string, error) {
	esc, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(esc), "@v"), nil
}

func add(root string, m Module) error {
	dir, err := escapedDir(root, m.Path)
	if err != nil {
		return err
	}
	ver, err := module.EscapeVersion(m.Version)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(m.Dir, "go.mod"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ver+".mod"), gomod, 0o644); err != nil {
		return err
	}
	info, _ := json.Marshal(struct{ Version, Time string }{m.Version, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)})
	if err := os.WriteFile(filepath.Join(dir, ver+".info"), info, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, ver+".zip"))
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(f, module.Version{Path: m.Path, Version: m.Version}, m.Dir); err != nil {
		f.Close()
		return fmt.Errorf("zipping %s: %w", m.Dir, err)
	}
	return f.Close()
}
