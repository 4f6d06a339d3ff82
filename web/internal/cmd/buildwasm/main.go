// Command buildwasm rebuilds the voting page's module, committed as
// web/static/evote.wasm.br with its evote.wasm.sha256 (go generate ./web).
// Run from anywhere inside the module.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"evote/web/internal/wasmbuild"
)

func main() {
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
	if err := wasmbuild.Write(dir, filepath.Join(dir, "web", "static")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
