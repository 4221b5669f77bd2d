package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/sluice-backup/sluice/pipeline"
)

// JSON events, one per line on stderr with --json. README documents the
// schema ("JSON events"); change both together. Every event has "event"
// and "time" (UTC, RFC 3339 with nanoseconds). Sizes are bytes, rates bytes
// per second, ratios stored bytes / source bytes.

type eventHeader struct {
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
}

func header(name string) eventHeader { return eventHeader{Event: name, Time: time.Now().UTC()} }

// startEvent: the targets are open and data is about to move.
type startEvent struct {
	eventHeader
	Pipeline   string `json:"pipeline,omitempty"` // set by run
	Object     string `json:"object"`
	SourceSize *int64 `json:"source_size,omitempty"` // absent when unknown (stdin, directories)
	// ExpectedSize, when the size is unknown: --expected-size, or a
	// directory's tar stream as measured before the backup.
	ExpectedSize *int64   `json:"expected_size,omitempty"`
	Targets      []string `json:"targets"`
}

// progressEvent: periodic, every second while data moves.
type progressEvent struct {
	eventHeader
	Pipeline    string   `json:"pipeline,omitempty"` // set by run
	BytesIn     int64    `json:"bytes_in"`
	BytesOut    int64    `json:"bytes_out"`
	Seconds     float64  `json:"seconds"`
	BytesPerSec float64  `json:"bytes_per_sec"`
	Ratio       float64  `json:"ratio"`
	Percent     *float64 `json:"percent,omitempty"`     // of a source of known or expected size, at most 100
	ETASeconds  *float64 `json:"eta_seconds,omitempty"` // of a source of known or expected size, until it is reached (none before the first byte, nor once it is reached)
}

// targetDoneEvent: "target_done" or "target_failed", once per target.
type targetDoneEvent struct {
	eventHeader
	Pipeline string `json:"pipeline,omitempty"` // set by run
	Target   string `json:"target"`
	OK       bool   `json:"ok"`
	URL      string `json:"url,omitempty"`
	Bytes    int64  `json:"bytes"`
	Error    string `json:"error,omitempty"`
}

// dryRunEvent: what a backup would store (--dry-run --json), one per
// backup; the human dry run prints the same fields as text.
type dryRunEvent struct {
	eventHeader
	Pipeline     string   `json:"pipeline,omitempty"` // set by run
	Object       string   `json:"object"`             // name with extensions
	Stages       []string `json:"stages"`             // backup order, tar first for a directory
	Source       string   `json:"source"`             // the {source} name: base name, or "stdin"
	SourceSize   *int64   `json:"source_size,omitempty"`
	ExpectedSize *int64   `json:"expected_size,omitempty"` // a directory's measured tar length, or --expected-size
	Files        *int     `json:"files,omitempty"`         // a directory's regular files
	Entries      *int     `json:"entries,omitempty"`       // a directory's entries: files, directories, symlinks
	Targets      []string `json:"targets"`
	// Unavailable are the targets that could not be opened, each with
	// its error; the backup would fail on them (exit 3).
	Unavailable []targetEvent `json:"unavailable,omitempty"`
	// Upload limits in bytes per second, when set, and the upload
	// memory budget in bytes the backup would use (its default too).
	BWLimit       int64 `json:"bwlimit,omitempty"`
	BWLimitTarget int64 `json:"bwlimit_target,omitempty"`
	UploadMemory  int64 `json:"upload_memory"`
	// Options are, for sluice run, the options each stage would run with
	// (secrets only as references: a file, a variable name).
	Options map[string]map[string]string `json:"options,omitempty"`
}

// signalEvent: SIGINT or SIGTERM arrived (--json); the text mode prints
// "sluice: interrupt: stopping and cleaning up …".
type signalEvent struct {
	eventHeader
	Signal string `json:"signal"` // "interrupt", "terminated"
	Action string `json:"action"` // what sluice does about it
}

// errorEvent: the last line of any command that fails with --json, in
// place of the text line "sluice: ERROR".
type errorEvent struct {
	eventHeader
	Error    string `json:"error"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"` // the signal that stopped it: "interrupt", "terminated"
}

// summaryEvent: the last event of a backup that got as far as writing.
type summary struct {
	eventHeader
	Pipeline    string        `json:"pipeline,omitempty"` // set by run
	Object      string        `json:"object"`
	Stages      []string      `json:"stages"`
	BytesIn     int64         `json:"bytes_in"`
	BytesOut    int64         `json:"bytes_out"`
	Ratio       float64       `json:"ratio"`
	SHA256      string        `json:"sha256,omitempty"`
	Seconds     float64       `json:"seconds"`
	BytesPerSec float64       `json:"bytes_per_sec"`
	OK          int           `json:"ok"`
	Failed      int           `json:"failed"`
	Targets     []targetEvent `json:"targets"`
}

// restoreStartEvent: restore opened the object and knows its stages.
type restoreStartEvent struct {
	eventHeader
	Object     string   `json:"object"`
	StoredSize int64    `json:"stored_size"`
	Stages     []string `json:"stages"`
}

// restoreProgressEvent: periodic, every second while data moves.
type restoreProgressEvent struct {
	eventHeader
	StoredBytes  int64    `json:"stored_bytes"`  // read from the store
	DecodedBytes int64    `json:"decoded_bytes"` // after every stage
	Seconds      float64  `json:"seconds"`
	BytesPerSec  float64  `json:"bytes_per_sec"`         // of decoded bytes
	Percent      *float64 `json:"percent,omitempty"`     // of the stored size
	ETASeconds   *float64 `json:"eta_seconds,omitempty"` // from the stored bytes' pace (none before the first byte, nor once all are read)
}

// restoreDoneEvent: the last event of a restore that succeeded.
type restoreDoneEvent struct {
	eventHeader
	Object       string  `json:"object"`
	To           string  `json:"to"` // the path written, or "-"
	StoredBytes  int64   `json:"stored_bytes"`
	DecodedBytes int64   `json:"decoded_bytes"`
	Seconds      float64 `json:"seconds"`
	BytesPerSec  float64 `json:"bytes_per_sec"`
	Verified     bool    `json:"verified"` // checked against the object's manifest
}

// restoreFailedEvent: the last event of a restore that failed.
type restoreFailedEvent struct {
	eventHeader
	Object string `json:"object"`
	Error  string `json:"error"`
}

// event is the JSON line of the commands other than backup (run, verify,
// prune): "pipeline_failed", "target_failed", "verified", "verify_failed",
// "verify_error", "prune_keep", "prune_remove"…. Fields not set for an event are omitted.
type event struct {
	Event    string    `json:"event"`
	Time     time.Time `json:"time"`
	Pipeline string    `json:"pipeline,omitempty"`
	Error    string    `json:"error,omitempty"`
	Reasons  []string  `json:"reasons,omitempty"`
	Object   string    `json:"object,omitempty"`
	Target   string    `json:"target,omitempty"`  // target_failed: the target's URL
	Missing  bool      `json:"missing,omitempty"` // prune: only the manifest is left, the object is gone
	Notes    []string  `json:"notes,omitempty"`   // verified: entries only a restore flag restores
	Decoded  *bool     `json:"decoded,omitempty"` // verified, verify_failed: decoded, or only compared with the manifest
}

type targetEvent struct {
	Target string `json:"target"`
	URL    string `json:"url,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func summaryEvent(res *pipeline.BackupResult) summary {
	ev := summary{
		eventHeader: header("summary"), Object: res.Object, Stages: res.Stages,
		BytesIn: res.BytesIn, BytesOut: res.BytesOut, Ratio: ratio(res.BytesOut, res.BytesIn), SHA256: res.SHA256,
		Seconds: res.Duration.Seconds(), BytesPerSec: rate(res.BytesIn, res.Duration),
		Failed: res.Failed(), OK: len(res.Targets) - res.Failed(),
	}
	for _, t := range res.Targets {
		te := targetEvent{Target: t.Target, URL: t.URL, OK: t.Err == nil}
		if t.Err != nil {
			te.Error = t.Err.Error()
		}
		ev.Targets = append(ev.Targets, te)
	}
	return ev
}

func writeJSONEvent(w io.Writer, ev any) {
	b, _ := json.Marshal(ev)
	w.Write(append(b, '\n'))
}
