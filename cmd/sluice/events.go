package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/sluice-backup/sluice/pipeline"
)

// event is one JSON line of --json output. Every event has "event" and
// "time"; the other fields depend on the event.
type event struct {
	Event    string        `json:"event"`
	Time     time.Time     `json:"time"`
	Pipeline string        `json:"pipeline,omitempty"`
	Error    string        `json:"error,omitempty"`
	Reasons  []string      `json:"reasons,omitempty"`
	Object   string        `json:"object,omitempty"`
	Stages   []string      `json:"stages,omitempty"`
	BytesIn  int64         `json:"bytes_in,omitempty"`
	BytesOut int64         `json:"bytes_out,omitempty"`
	SHA256   string        `json:"sha256,omitempty"`
	Seconds  float64       `json:"seconds,omitempty"`
	Targets  []targetEvent `json:"targets,omitempty"`
}

type targetEvent struct {
	Target string `json:"target"`
	URL    string `json:"url,omitempty"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func summaryEvent(res *pipeline.BackupResult) event {
	ev := event{
		Event: "summary", Time: time.Now().UTC(), Object: res.Object, Stages: res.Stages,
		BytesIn: res.BytesIn, BytesOut: res.BytesOut, SHA256: res.SHA256, Seconds: res.Duration.Seconds(),
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

func writeJSONEvent(w io.Writer, ev event) {
	b, _ := json.Marshal(ev)
	w.Write(append(b, '\n'))
}
