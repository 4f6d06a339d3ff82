// Package funclen measures functions, so that a test can keep them to a
// screen (issue 20: "a screen per function"; age keeps its functions
// small, tessera splits its appender's lifecycle into methods). An
// orchestration that grows past the limit is asking to be split into
// named steps on a small struct.
package funclen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// Func is one function and its length in lines, from its signature to
// its closing brace.
type Func struct {
	File  string // slash-separated, relative to the root
	Line  int
	Name  string // Name, Type.Method, or Outer.func for a function literal
	Lines int
}

// Key names the function for an allow-list: "file Name".
func (f Func) Key() string { return f.File + " " + f.Name }

// Longer returns the non-test functions (declared or literal) of the Go
// files under root/dir for each dir that are longer than limit lines,
// longest first.
func Longer(root string, dirs []string, limit int) ([]Func, error) {
	var out []Func
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			fs, err := fileFuncs(p, filepath.ToSlash(rel))
			if err != nil {
				return err
			}
			for _, f := range fs {
				if f.Lines > limit {
					out = append(out, f)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lines > out[j].Lines })
	return out, nil
}

// fileFuncs measures every function of one file.
func fileFuncs(path, rel string) ([]Func, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []Func
	measure := func(n ast.Node, body *ast.BlockStmt, name string) {
		if body == nil {
			return
		}
		start := fset.Position(n.Pos()).Line
		out = append(out, Func{File: rel, Line: start, Name: name, Lines: fset.Position(body.Rbrace).Line - start + 1})
	}
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) > 0 {
			name = recvName(fd.Recv.List[0].Type) + "." + name
		}
		measure(fd, fd.Body, name)
		ast.Inspect(fd, func(n ast.Node) bool {
			if fl, ok := n.(*ast.FuncLit); ok {
				measure(fl, fl.Body, name+".func")
			}
			return true
		})
	}
	return out, nil
}

// recvName is the type name of a method's receiver.
func recvName(t ast.Expr) string {
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}
