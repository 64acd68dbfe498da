package logcopy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/custody/custody/events"
)

// ErrCheckpointMismatch: the checkpoint file belongs to a copy between
// other logs.
var ErrCheckpointMismatch = errors.New("logcopy: checkpoint belongs to another copy")

// FileCheckpoint keeps a copy's position in a small JSON file. Each Save
// replaces the file atomically (write to a temporary file, rename), so the
// file always holds a complete position; it is not fsynced, since a lost
// save only makes a resumed copy re-send appends it already made, which
// the destination accepts as idempotent retries.
type FileCheckpoint struct {
	// Path of the file; its directory is created when missing.
	Path string
	// Source and Destination name the two logs (URLs without passwords).
	// Loading a file saved for other logs fails with ErrCheckpointMismatch
	// instead of skipping events of the wrong log.
	Source, Destination string

	mu sync.Mutex
}

type checkpointFile struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Position    string `json:"position"`
}

// Load implements Checkpoint.
func (f *FileCheckpoint) Load(ctx context.Context) (events.Position, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return events.Start, nil
	}
	if err != nil {
		return events.Start, err
	}
	return decodeCheckpoint(b, f.Source, f.Destination)
}

// decodeCheckpoint parses a checkpoint file's bytes.
func decodeCheckpoint(b []byte, source, destination string) (events.Position, error) {
	var cf checkpointFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return events.Start, fmt.Errorf("logcopy: checkpoint file is not valid JSON: %w", err)
	}
	if cf.Source != source || cf.Destination != destination {
		return events.Start, fmt.Errorf("%w: it copies %s to %s", ErrCheckpointMismatch, cf.Source, cf.Destination)
	}
	pos, err := events.ParsePosition(cf.Position)
	if err != nil {
		return events.Start, fmt.Errorf("logcopy: checkpoint file: %w", err)
	}
	return pos, nil
}

// Save implements Checkpoint.
func (f *FileCheckpoint) Save(ctx context.Context, pos events.Position) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(checkpointFile{Source: f.Source, Destination: f.Destination, Position: pos.String()})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	tmp := f.Path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.Path)
}

// Remove deletes the checkpoint file, after a copy completed.
func (f *FileCheckpoint) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
