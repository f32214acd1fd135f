package redact

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SaltEnv names the environment variable that sets the salt of markers. CI jobs set it
// (as a secret) so that the markers of runs on different machines compare.
const SaltEnv = "SMP_REDACT_SALT"

// SaltFile is the file, under the user's configuration folder, that holds the salt when
// SaltEnv is not set: smp/redact-salt (~/.config/smp/redact-salt on Linux).
const SaltFile = "smp/redact-salt"

// Salt returns the salt of this user's markers: $SMP_REDACT_SALT when set, else the
// content of SaltFile under configDir (os.UserConfigDir() when empty), which the first
// call creates (0600, in a 0700 folder) with 32 random bytes. Concurrent first calls agree
// on one salt. An error means neither is available; the caller may use a random salt
// (New(nil)), whose markers then compare within one run only.
func Salt(configDir string) ([]byte, error) {
	if s := os.Getenv(SaltEnv); s != "" {
		return []byte(s), nil
	}
	if configDir == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("redaction salt: %w; set %s", err, SaltEnv)
		}
		configDir = dir
	}
	path := filepath.Join(configDir, filepath.FromSlash(SaltFile))
	if s, err := readSalt(path); err == nil {
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("redaction salt: %w; set %s", err, SaltEnv)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".redact-salt-*")
	if err != nil {
		return nil, fmt.Errorf("redaction salt: %w; set %s", err, SaltEnv)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(hex.EncodeToString(b) + "\n")
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		return nil, fmt.Errorf("redaction salt: %w", errors.Join(werr, cerr))
	}
	// A link fails when the file exists: whoever linked first wins, and everyone reads
	// the winner's salt.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("redaction salt: %w; set %s", err, SaltEnv)
	}
	return readSalt(path)
}

func readSalt(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return nil, fmt.Errorf("redaction salt %s is too short; remove the file to make a new one", path)
	}
	return []byte(s), nil
}
