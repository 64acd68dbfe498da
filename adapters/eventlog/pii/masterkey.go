package pii

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyEnv names the environment variable holding the master key:
// base64 (standard or URL alphabet, padded or not) of KeySize random bytes,
// e.g. from `openssl rand -base64 32`.
const MasterKeyEnv = "CUSTODY_MASTER_KEY"

// DevMasterKeyPath is where LoadMasterKey keeps a generated development key
// when MasterKeyEnv is unset.
const DevMasterKeyPath = ".data/master.key"

// ErrBadMasterKey: the configured master key is not base64 of KeySize bytes.
var ErrBadMasterKey = errors.New("pii: bad master key")

// LoadMasterKey returns the master key from MasterKeyEnv. When it is unset
// it falls back to a development key in DevMasterKeyPath (relative to the
// working directory), generating it on first use, and warns loudly: such a
// key sits next to the data it protects.
func LoadMasterKey(logger *slog.Logger) ([]byte, error) {
	return loadMasterKey(os.Getenv(MasterKeyEnv), DevMasterKeyPath, logger)
}

func loadMasterKey(env, devPath string, logger *slog.Logger) ([]byte, error) {
	if env != "" {
		return ParseMasterKey(env)
	}
	if logger == nil {
		logger = slog.Default()
	}
	key, err := os.ReadFile(devPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key, err = createDevKey(devPath)
		if err != nil {
			return nil, err
		}
		logger.Warn("!!! "+MasterKeyEnv+" is not set: generated a DEVELOPMENT master key; personal data is only as safe as this file — set "+MasterKeyEnv+" in production !!!",
			"path", devPath)
	case err != nil:
		return nil, fmt.Errorf("pii: read development master key: %w", err)
	default:
		logger.Warn("!!! "+MasterKeyEnv+" is not set: using the DEVELOPMENT master key file; set "+MasterKeyEnv+" in production !!!",
			"path", devPath)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrBadMasterKey, devPath, len(key), KeySize)
	}
	return key, nil
}

// ParseMasterKey decodes a base64 master key.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("%w: %s decodes to %d bytes, want %d (try: openssl rand -base64 32)", ErrBadMasterKey, MasterKeyEnv, len(key), KeySize)
			}
			return key, nil
		}
	}
	return nil, fmt.Errorf("%w: %s is not base64 (try: openssl rand -base64 32)", ErrBadMasterKey, MasterKeyEnv)
}

func createDevKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("pii: development master key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("pii: development master key: %w", err)
	}
	// Write a temporary file, then link it into place: when two processes
	// start at once, exactly one key wins, and nobody reads a half-written
	// file.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.key-*")
	if err != nil {
		return nil, fmt.Errorf("pii: development master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("pii: development master key: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("pii: write development master key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("pii: write development master key: %w", err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case errors.Is(err, fs.ErrExist):
		if key, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("pii: read development master key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("pii: development master key: %w", err)
	}
	return key, nil
}
