// Package tempdir makes the private working folders of a run (certificates and keys,
// proxy configurations, generator scripts with the request's headers) and removes the
// ones that runs killed before they could clean up (SIGKILL, a crash, a lost terminal)
// left behind.
//
// A folder is created 0700 and holds an owner file naming the process that made it and
// when that process started, so that a later run can tell a folder whose owner is gone
// (or whose pid now belongs to another process) from one still in use. Only folders with
// an owner file, of the same user, are ever removed.
//
// Imports: the standard library only.
package tempdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// OwnerFile is the name of the file that says which process a folder belongs to.
const OwnerFile = ".smp-owner"

// New creates a folder named prefix followed by random characters in parent (""
// for os.TempDir()), mode 0700, owned by this process.
func New(parent, prefix string) (string, error) {
	dir, err := os.MkdirTemp(parent, prefix) // mode 0700
	if err != nil {
		return "", err
	}
	owner := strconv.Itoa(os.Getpid()) + " " + startTime(os.Getpid()) + "\n"
	if err := os.WriteFile(filepath.Join(dir, OwnerFile), []byte(owner), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// Sweep removes the folders named prefix* in parent ("" for os.TempDir()) that New made
// for a process that is no longer running, and returns their paths. Folders of other
// users, folders without an owner file and folders whose owner lives are left alone.
func Sweep(parent, prefix string) ([]string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	dirs, err := filepath.Glob(filepath.Join(parent, globEscape(prefix)+"*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, d := range dirs {
		if !ownedByMe(d) || alive(d) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}

// alive reports whether the owner of folder d runs, or might: a folder without a readable
// owner file (being made, or not ours) counts as alive.
func alive(d string) bool {
	data, err := os.ReadFile(filepath.Join(d, OwnerFile))
	if err != nil {
		return true
	}
	pidText, started, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return true
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	// The pid is in use: by the owner, unless the process with it started at another time.
	now := startTime(pid)
	return started == "" || now == "" || now == started
}

func ownedByMe(d string) bool {
	st, err := os.Lstat(d)
	if err != nil || !st.IsDir() {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Getuid()
}

// startTime is when process pid started, in clock ticks since boot (field 22 of
// /proc/<pid>/stat), or "" where that is not known.
func startTime(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces and ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(data[i+1:]))
	const startField = 22 - 3 // fields after the name start at field 3
	if len(fields) <= startField {
		return ""
	}
	return fields[startField]
}

func globEscape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`).Replace(s)
}
