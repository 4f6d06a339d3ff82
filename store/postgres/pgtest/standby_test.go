//go:build linux

package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClearCrashedZombie is the CI failure of TestStandbyTakesOver: the
// killed primary's postmaster was still a zombie when the rebuilt standby
// started on its port, and PostgreSQL refused to start ("lock file
// .s.PGSQL.N.lock already exists"). A zombie counts as exited: its
// socket files are removed.
func TestClearCrashedZombie(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	// Not reaped: it is a zombie of this process once it has exited.
	for {
		st, err := procState(pid)
		if err != nil {
			t.Fatal(err)
		}
		if st == 'Z' {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	dir := t.TempDir()
	lock := filepath.Join(dir, ".s.PGSQL.5999.lock")
	if err := os.WriteFile(lock, []byte("12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := clearCrashed(pid, dir, 5999, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("the zombie's socket lock file is still there (%v)", err)
	}
}

// TestClearCrashedRunning: a postmaster that still runs is not cleared
// away; its lock file stays.
func TestClearCrashedRunning(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	dir := t.TempDir()
	lock := filepath.Join(dir, ".s.PGSQL.5999.lock")
	if err := os.WriteFile(lock, []byte("12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := clearCrashed(cmd.Process.Pid, dir, 5999, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still runs") {
		t.Fatalf("clearCrashed of a running process: %v", err)
	}
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("a running postmaster's lock file was removed: %v", err)
	}
}

// TestProcStateGone: no such process is state 0.
func TestProcStateGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	st, err := procState(cmd.Process.Pid)
	if err != nil || st != 0 {
		t.Fatalf("procState of a reaped process: %c, %v", st, err)
	}
}
