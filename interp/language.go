package interp

import (
	"go/ast"
	"go/token"
)

func (s *Session) languageEdits(root ast.Node, rel func(token.Pos) int, res *checkResult) []edit {
	return nil
}
