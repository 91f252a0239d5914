package cudnn

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// launchers are the methods that take a kernel name and its arguments, and the
// position of the first kernel argument.
var launchers = map[string]int{"launch": 4, "elementwise": 2}

// TestLaunchArgs checks every launch of a kernel in this package's source against
// the kernel's parameters, as launch does at run time, but without a GPU: the name
// must be a kernel of the source and each argument's static type the Go type of its
// parameter. A name that is a parameter of the enclosing method (cast's kernel)
// stands for each constant its callers pass there. A call that forwards args... is
// a launcher calling another and is skipped. Every kernel must be launched somewhere.
func TestLaunchArgs(t *testing.T) {
	if _, err := os.Stat("kernels.go"); err != nil {
		t.Skip("not run in the package's folder (a test binary elsewhere): no source to read")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to find the export data of the imports")
	}
	sigs, err := kernelSigs()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]kernelSig{}
	for _, s := range sigs {
		byName[s.name] = s
	}

	out, err := exec.Command(goCmd, "list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if path, file, ok := strings.Cut(sc.Text(), "="); ok {
			exports[path] = file
		}
	}
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{
		Types:      map[ast.Expr]types.TypeAndValue{},
		Defs:       map[*ast.Ident]types.Object{},
		Uses:       map[*ast.Ident]types.Object{},
		Selections: map[*ast.SelectorExpr]*types.Selection{},
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(exports[path])
	})}
	if _, err := conf.Check("alexnet/internal/cudnn", fset, files, info); err != nil {
		t.Fatal(err)
	}

	// A call of a Backend method: its name, or "".
	method := func(call *ast.CallExpr) string {
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return ""
		}
		s := info.Selections[sel]
		if s == nil || s.Kind() != types.MethodVal {
			return ""
		}
		if named, ok := types.Unalias(s.Recv()).(*types.Pointer); !ok || named.Elem().String() != "alexnet/internal/cudnn.Backend" {
			return ""
		}
		return sel.Sel.Name
	}
	// The constants passed to each method's parameters, for names that are forwarded.
	constArgs := map[string]map[int][]string{}
	// Each launch, with the enclosing method.
	type site struct {
		call  *ast.CallExpr
		first int
		outer *ast.FuncDecl
	}
	var sites []site
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				m := method(call)
				if m == "" {
					return true
				}
				for i, a := range call.Args {
					if v := info.Types[a].Value; v != nil && v.Kind() == constant.String {
						if constArgs[m] == nil {
							constArgs[m] = map[int][]string{}
						}
						constArgs[m][i] = append(constArgs[m][i], constant.StringVal(v))
					}
				}
				if first, ok := launchers[m]; ok && !call.Ellipsis.IsValid() {
					sites = append(sites, site{call, first, fd})
				}
				return true
			})
		}
	}

	launched := map[string]bool{}
	for _, s := range sites {
		pos := fset.Position(s.call.Pos())
		var kernelNames []string
		if v := info.Types[s.call.Args[0]].Value; v != nil {
			kernelNames = []string{constant.StringVal(v)}
		} else if id, ok := s.call.Args[0].(*ast.Ident); ok {
			// A parameter of the enclosing method: the constants its callers pass.
			i := 0
			for _, field := range s.outer.Type.Params.List {
				for _, n := range field.Names {
					if info.Defs[n] == info.Uses[id] {
						kernelNames = constArgs[s.outer.Name.Name][i]
					}
					i++
				}
			}
		}
		if len(kernelNames) == 0 {
			t.Errorf("%s: cannot tell which kernel this launches", pos)
			continue
		}
		for _, name := range kernelNames {
			sig, ok := byName[name]
			if !ok {
				t.Errorf("%s: no kernel %s in the source", pos, name)
				continue
			}
			args := s.call.Args[s.first:]
			if len(args) != len(sig.params) {
				t.Errorf("%s: %s takes %d arguments, given %d", pos, name, len(sig.params), len(args))
				continue
			}
			for i, a := range args {
				got := types.TypeString(types.Default(info.Types[a].Type), nil)
				if want := goTypeName(sig.params[i]); got != want {
					t.Errorf("%s: %s argument %d is a %s, the parameter takes a %s", pos, name, i, got, want)
				}
			}
			launched[name] = true
		}
	}
	for _, s := range sigs {
		if !launched[s.name] {
			t.Errorf("kernel %s is never launched", s.name)
		}
	}
	t.Logf("%d launch sites checked, %d of %d kernels launched", len(sites), len(launched), len(sigs))
}

// goTypeName is t as go/types writes it.
func goTypeName(t reflect.Type) string {
	if t.PkgPath() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}
