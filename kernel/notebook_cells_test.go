package kernel_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nbWrite writes a notebook of code cells for the govalent kernel and returns its path.
func nbWrite(t *testing.T, cells ...string) string {
	t.Helper()
	type cell struct {
		CellType string         `json:"cell_type"`
		Metadata map[string]any `json:"metadata"`
		Source   string         `json:"source"`
		Outputs  []any          `json:"outputs"`
		Count    *int           `json:"execution_count"`
	}
	nb := map[string]any{
		"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]any{"name": "govalent", "display_name": "Go (govalent)", "language": "go"}},
	}
	var cs []cell
	for _, c := range cells {
		cs = append(cs, cell{CellType: "code", Metadata: map[string]any{}, Source: c, Outputs: []any{}})
	}
	nb["cells"] = cs
	data, err := json.Marshal(nb)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cells.ipynb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A kernel on a machine without a Go toolchain runs cells unchecked and says why once, in the first cell.
func TestNotebookWithoutAGoToolchain(t *testing.T) {
	path := nbWrite(t, "import \"fmt\"\nx := 2\nfmt.Println(\"x is\", x)", "fmt.Println(\"twice\", 2*x)")
	r := nbRun(t, "http://127.0.0.1:1", path, "PATH=/usr/bin:/bin")
	first, second := &r.nb.Cells[0], &r.nb.Cells[1]
	if first.stream("stdout") != "x is 2\n" || second.stream("stdout") != "twice 4\n" {
		t.Fatalf("stdout %q, %q", first.stream("stdout"), second.stream("stdout"))
	}
	if !strings.Contains(first.stream("stderr"), "cells are not type-checked: no Go toolchain") || second.stream("stderr") != "" {
		t.Fatalf("stderr %q, %q", first.stream("stderr"), second.stream("stderr"))
	}
}
