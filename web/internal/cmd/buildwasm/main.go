// Command buildwasm rebuilds the voting page's module, committed as
// web/static/evote.wasm.br with its evote.wasm.sha256 (go generate ./web).
// Run from anywhere inside the module.
//
// With -pkg, -dir and -name it builds another module (the observers'
// portal's: go generate ./web/portal) and writes only its brotli form and
// hash line (wasmbuild.WriteBrotliOnly) into dir, relative to the module
// root.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"evote/web/internal/wasmbuild"
)

func main() {
	pkg := flag.String("pkg", "", "main package to build (e.g. ./web/portal/wasm); default: the voting page's")
	out := flag.String("dir", "", "directory for NAME.wasm.br and NAME.wasm.sha256, relative to the module root (with -pkg)")
	name := flag.String("name", "", "module name (with -pkg)")
	flag.Parse()
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			fmt.Fprintln(os.Stderr, "buildwasm: no go.mod above the working directory")
			os.Exit(1)
		}
		dir = parent
	}
	if *pkg != "" {
		if *out == "" || *name == "" {
			fmt.Fprintln(os.Stderr, "buildwasm: -pkg needs -dir and -name")
			os.Exit(2)
		}
		if err := wasmbuild.WriteBrotliOnly(dir, filepath.Join(dir, *out), *pkg, *name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := wasmbuild.Write(dir, filepath.Join(dir, "web", "static")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
