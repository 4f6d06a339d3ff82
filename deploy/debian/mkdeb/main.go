// Command mkdeb builds evote's Debian packages, reproducibly (the same
// source, version and SOURCE_DATE_EPOCH give byte-identical files):
//
//	go run ./deploy/debian/mkdeb -version 0.1.0 -out dist
//
// It builds the binaries (CGO off, -trimpath, no build id), lays out three
// package trees and packs each with dpkg-deb (owner root, files sorted,
// every time the epoch, gzip):
//
//   - evoted: /usr/bin/evoted, its systemd unit (user evoted, state in
//     /var/lib/evoted, secrets by LoadCredential), /etc/evote/evoted.conf;
//   - evote-idp: /usr/bin/evote-idp, its unit, /etc/evote/evote-idp.env;
//   - evote-tools: evote (voters, officials, trustees, witnesses) and
//     evote-verify.
//
// The maintainer scripts make the service's system user and its state
// directory on install; remove keeps data and configuration; purge deletes
// the configuration, the state directory (the elections' data: back it up
// first) and the user.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pkg describes one package.
type pkg struct {
	name, description string
	binaries          []string          // commands under ./cmd or ./idp/cmd, installed in /usr/bin
	files             map[string]string // destination → source, relative to deploy/debian
	conffiles         []string
	user              string // the service's system user and state directory name, "" for none
}

var packages = []pkg{
	{
		name:        "evoted",
		description: "evote ballot box server\n End-to-end verifiable remote voting: the ballot box and its bulletin board\n (cmd/evoted), with a systemd unit.",
		binaries:    []string{"./cmd/evoted"},
		files: map[string]string{
			"lib/systemd/system/evoted.service":         "evoted.service",
			"etc/evote/evoted.conf":                     "evoted.conf",
			"usr/share/doc/evoted/operator.md":          "../../docs/operator.md",
			"usr/share/evote/monitoring/alerts.yml":     "../monitoring/alerts.yml",
			"usr/share/evote/monitoring/dashboard.json": "../monitoring/grafana-dashboard.json",
		},
		conffiles: []string{"/etc/evote/evoted.conf"},
		user:      "evoted",
	},
	{
		name:        "evote-idp",
		description: "evote identity service\n Signs voters in (population register, texted codes) and issues voting\n credentials for evote's ballot box, with a systemd unit.",
		binaries:    []string{"./idp/cmd/evote-idp"},
		files: map[string]string{
			"lib/systemd/system/evote-idp.service": "evote-idp.service",
			"etc/evote/evote-idp.env":              "evote-idp.env",
			"usr/share/doc/evote-idp/operator.md":  "../../docs/operator.md",
		},
		conffiles: []string{"/etc/evote/evote-idp.env"},
		user:      "evote-idp",
	},
	{
		name:        "evote-tools",
		description: "evote command-line tools\n evote (voters, officials, trustees, witnesses, keys) and evote-verify\n (checks an election's whole public record).",
		binaries:    []string{"./cmd/evote", "./cmd/evote-verify"},
	},
}

func main() {
	version := flag.String("version", "0.1.0", "package version")
	out := flag.String("out", "dist", "output directory")
	epoch := flag.Int64("epoch", 0, "timestamp of every file (default: $SOURCE_DATE_EPOCH, else the last commit's time)")
	flag.Parse()
	if err := build(*version, *out, *epoch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func build(version, out string, epoch int64) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if epoch == 0 {
		if epoch, err = sourceEpoch(root); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, p := range packages {
		path, err := buildPackage(root, work, out, p, version, epoch)
		if err != nil {
			return fmt.Errorf("mkdeb: %s: %w", p.name, err)
		}
		fmt.Println(path)
	}
	return nil
}

func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("mkdeb: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("mkdeb: run inside the evote module")
	}
	return filepath.Dir(mod), nil
}

// sourceEpoch is $SOURCE_DATE_EPOCH, else the last commit's time.
func sourceEpoch(root string) (int64, error) {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		return strconv.ParseInt(v, 10, 64)
	}
	cmd := exec.Command("git", "log", "-1", "--format=%ct")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		return 0, errors.New("mkdeb: set SOURCE_DATE_EPOCH or -epoch (no git history)")
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// debArch is Debian's name of the target architecture.
func debArch() string {
	if a := os.Getenv("GOARCH"); a != "" {
		return map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "i386"}[a]
	}
	return map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "i386"}[runtime.GOARCH]
}

func buildPackage(root, work, out string, p pkg, version string, epoch int64) (string, error) {
	tree := filepath.Join(work, p.name)
	bin := filepath.Join(tree, "usr", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	for _, b := range p.binaries {
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", filepath.Join(bin, filepath.Base(b)), b)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		if o, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %w\n%s", b, err, o)
		}
	}
	for dst, src := range p.files {
		b, err := os.ReadFile(filepath.Join(root, "deploy", "debian", src))
		if err != nil {
			return "", err
		}
		d := filepath.Join(tree, dst)
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(d, b, 0o644); err != nil {
			return "", err
		}
	}
	deb := filepath.Join(tree, "DEBIAN")
	if err := os.MkdirAll(deb, 0o755); err != nil {
		return "", err
	}
	size, err := installedSize(tree)
	if err != nil {
		return "", err
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: evote operators <evote@localhost>\nInstalled-Size: %d\nSection: net\nPriority: optional\n",
		p.name, version, debArch(), size)
	if p.user != "" {
		control += "Depends: adduser\n"
	}
	control += "Description: " + p.description + "\n"
	files := map[string]string{"control": control}
	if len(p.conffiles) > 0 {
		files["conffiles"] = strings.Join(p.conffiles, "\n") + "\n"
	}
	if p.user != "" {
		files["postinst"] = postinst(p.user)
		files["postrm"] = postrm(p.user, p.conffiles)
	}
	for name, text := range files {
		mode := os.FileMode(0o644)
		if name == "postinst" || name == "postrm" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(deb, name), []byte(text), mode); err != nil {
			return "", err
		}
	}
	// Every file and directory at the epoch; permissions normalised.
	t := time.Unix(epoch, 0)
	err = filepath.WalkDir(tree, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			os.Chmod(path, 0o755)
		}
		return os.Chtimes(path, t, t)
	})
	if err != nil {
		return "", err
	}
	path := filepath.Join(out, fmt.Sprintf("%s_%s_%s.deb", p.name, version, debArch()))
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, path)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("dpkg-deb: %w\n%s", err, stderr.String())
	}
	return path, nil
}

// installedSize is the tree's size in KiB, DEBIAN excluded.
func installedSize(tree string) (int64, error) {
	var n int64
	err := filepath.WalkDir(tree, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += (fi.Size() + 1023) / 1024
		return nil
	})
	return n, err
}

// postinst makes the system user and its state directory, and reloads
// systemd if it runs. It does not enable or start the service: it needs
// its configuration and credentials first (docs/operator.md).
func postinst(user string) string {
	return fmt.Sprintf(`#!/bin/sh
set -e
if [ "$1" = configure ]; then
	if ! getent passwd %[1]s >/dev/null; then
		adduser --system --group --home /var/lib/%[1]s --no-create-home --quiet %[1]s
	fi
	install -d -o %[1]s -g %[1]s -m 0700 /var/lib/%[1]s
	install -d -o root -g root -m 0700 /etc/evote/credentials
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null || true
	fi
	echo "%[1]s: configure /etc/evote and the credentials in /etc/evote/credentials (evote keys), then: systemctl enable --now %[1]s"
fi
exit 0
`, user)
}

// postrm reloads systemd after a removal; on purge it deletes the
// configuration, the state directory and the user.
func postrm(user string, conffiles []string) string {
	return fmt.Sprintf(`#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	rm -f %[2]s
	rm -rf /var/lib/%[1]s
	if getent passwd %[1]s >/dev/null; then
		deluser --system --quiet %[1]s || true
	fi
	if getent group %[1]s >/dev/null; then
		delgroup --system --quiet %[1]s || true
	fi
	rmdir /etc/evote/credentials /etc/evote 2>/dev/null || true
fi
exit 0
`, user, strings.Join(sorted(conffiles), " "))
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}
