// Package govalent holds the source of the packages a native worker binary is built from (see package native):
// the SDK and what it imports from this module. Embedding it lets a govalent binary, however it was built or
// installed, build a shipped program with nothing but a Go toolchain, offline.
package govalent

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"path"
)

// Source holds go.mod and the non-test Go files of the packages a shipped program can import from this module,
// at their paths in the module.
//
//go:embed go.mod ct/*.go ct/wire/*.go ct/codec/*.go ct/quantum/*.go kernel/display/*.go internal/credential/*.go
var Source embed.FS

// SourcePackages are the packages in Source, by import path below the module's.
var SourcePackages = []string{"ct", "ct/wire", "ct/codec", "ct/quantum", "kernel/display", "internal/credential"}

// GoFiles lists the files of the package at dir in Source that a build for this platform compiles: its
// non-test Go files whose build constraints hold.
func GoFiles(dir string) ([]string, error) {
	bp, err := sourceContext.ImportDir(dir, 0)
	if err != nil {
		return nil, err
	}
	return bp.GoFiles, nil
}

// sourceContext is the default build context with Source as its file system.
var sourceContext = func() build.Context {
	c := build.Default
	c.GOROOT, c.GOPATH = "", ""
	c.JoinPath = path.Join
	c.IsDir = func(name string) bool {
		st, err := fs.Stat(Source, name)
		return err == nil && st.IsDir()
	}
	c.HasSubdir = func(string, string) (string, bool) { return "", false }
	c.ReadDir = func(dir string) ([]fs.FileInfo, error) {
		entries, err := fs.ReadDir(Source, dir)
		if err != nil {
			return nil, err
		}
		infos := make([]fs.FileInfo, 0, len(entries))
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				infos = append(infos, info)
			}
		}
		return infos, nil
	}
	c.OpenFile = func(name string) (io.ReadCloser, error) { return Source.Open(name) }
	return c
}()

// TreeHash is the sha256 (hex) of a file tree's paths and contents, such as Source's: what a cache of things
// built from it is keyed by.
func TreeHash(fsys fs.FS) string {
	h := sha256.New()
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := fs.ReadFile(fsys, p)
			fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
			h.Write(data)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}
