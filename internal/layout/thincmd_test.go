package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// maxCmdLines is the longest a function of cmd/smp may be: cmd turns flags into one call
// and prints the outcome (docs/architecture.md), and a longer function is a workflow that
// belongs in a package whose inputs are injected (issue 16 moved certify's and the load
// command's there).
const maxCmdLines = 60

// TestCommandFunctionsAreShort: no function of cmd/smp (its tests aside), declared or
// literal, is over maxCmdLines lines from its func keyword to its closing brace.
func TestCommandFunctionsAreShort(t *testing.T) {
	files, err := filepath.Glob("../../cmd/smp/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	funcs := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n.(type) {
			case *ast.FuncDecl, *ast.FuncLit:
				funcs++
				start, end := fset.Position(n.Pos()), fset.Position(n.End())
				if lines := end.Line - start.Line + 1; lines > maxCmdLines {
					name := "a function literal"
					if d, ok := n.(*ast.FuncDecl); ok {
						name = d.Name.Name
					}
					t.Errorf("cmd/smp/%s:%d: %s is %d lines, over %d: move its work into a package and call it",
						filepath.Base(path), start.Line, name, lines, maxCmdLines)
				}
			}
			return true
		})
	}
	if funcs < 50 {
		t.Errorf("read %d functions of cmd/smp; is the path still right?", funcs)
	}
}
