package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/govalent/govalent/interp"
)

// Mode is how a program is given to the interpreter.
type Mode string

const (
	// FileMode evaluates the whole file as one cell, as `govalent run FILE.go` does.
	FileMode Mode = "file"
	// CellMode evaluates the cells of Cells one after the other, as the kernel does with a notebook's cells.
	CellMode Mode = "cell"
)

// ParseMode checks a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case FileMode, CellMode:
		return m, nil
	}
	return "", fmt.Errorf("conformance: unknown mode %q (want %q or %q)", s, FileMode, CellMode)
}

// memoryLimit caps a child's address space: a runaway program fails alone instead of starving the machine.
const memoryLimit = 4 << 30

// RunChild runs the program at path through interp in this process, in the given mode, and returns the exit
// status: 0 when it ran to its end, 1 when the interpreter reported an error, which is printed to stderr as
// `govalent run` prints it and its first line written to the file report for the runner's results. A program
// that calls os.Exit ends the process itself.
func RunChild(mode Mode, path, report string) int {
	if err := limitMemory(memoryLimit); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	err := evalProgram(mode, path)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, err)
	var ce *interp.CellError
	if errors.As(err, &ce) && ce.Stack != "" {
		fmt.Fprintln(os.Stderr, ce.Stack)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	if werr := os.WriteFile(report, []byte(first), 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "conformance:", werr)
	}
	return 1
}

func evalProgram(mode Mode, path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s, err := interp.New(interp.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	if mode == FileMode {
		_, err = s.EvalNamed(ctx, filepath.Base(path), string(src))
		return err
	}
	cells, err := Cells(filepath.Base(path), src)
	if err != nil {
		return err
	}
	for _, cell := range cells {
		if _, err := s.Eval(ctx, cell); err != nil {
			return err
		}
	}
	return nil
}
