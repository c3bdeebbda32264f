package conformance

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
)

// Cells turns a Go program into the notebook cells a user would write for it: first the imports and every
// package-level declaration except main and init, then the body of each init func as a block (in source order,
// as Go runs them), then the body of main as top-level statements. Every cell keeps the file's line and column
// numbers (what it leaves out is blanked), so errors point at the file's lines. A return in main stays: at the
// top level of a cell it ends the cell, as it ends main.
func Cells(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	tf := fset.File(f.Pos())
	off := func(p token.Pos) int { return tf.Offset(p) }
	// only copies src[start:end] (and the newlines) into a blank cell
	only := func(start, end int) []byte {
		cell := bytes.Clone(src)
		blank(cell, 0, start)
		blank(cell, end, len(cell))
		return cell
	}

	decls := bytes.Clone(src)
	blank(decls, 0, off(f.Name.End())) // the package clause and the comments before it
	var inits [][]byte
	var main *ast.FuncDecl
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || fd.Body == nil || (fd.Name.Name != "main" && fd.Name.Name != "init") {
			continue
		}
		start := off(fd.Pos())
		if fd.Doc != nil {
			start = off(fd.Doc.Pos())
		}
		blank(decls, start, off(fd.End()))
		if fd.Name.Name == "init" {
			inits = append(inits, only(off(fd.Body.Lbrace), off(fd.Body.Rbrace)+1))
			continue
		}
		main = fd
	}
	if main == nil {
		return nil, fmt.Errorf("%s: no func main", name)
	}
	stmts := only(off(main.Body.Lbrace)+1, off(main.Body.Rbrace))
	cells := []string{string(decls)}
	for _, c := range inits {
		cells = append(cells, string(c))
	}
	return append(cells, string(stmts)), nil
}

// blank replaces b[start:end] with spaces, keeping newlines so that line numbers stay.
func blank(b []byte, start, end int) {
	for i := start; i < end; i++ {
		if b[i] != '\n' {
			b[i] = ' '
		}
	}
}
