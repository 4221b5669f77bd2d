package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestLogRouter checks that loggers derived from a router before it is
// diverted, with attributes and groups, follow the diversion and come
// back when it ends, and that the destination's level decides.
func TestLogRouter(t *testing.T) {
	var base, diverted bytes.Buffer
	route, log := newLogRouter(slog.NewTextHandler(&base, &slog.HandlerOptions{Level: slog.LevelInfo}))
	target := log.With("target", "s3://b/p").WithGroup("retry").With("attempt", 2)

	target.Warn("before")
	restore := route.divert(slog.NewJSONHandler(&diverted, &slog.HandlerOptions{Level: slog.LevelDebug}))
	target.Warn("during")
	log.Debug("debug during") // the diverted destination takes debug
	restore()
	target.Warn("after")
	log.Debug("debug after") // the base does not

	if got := base.String(); !strings.Contains(got, `msg=before target=s3://b/p retry.attempt=2`) ||
		!strings.Contains(got, `msg=after target=s3://b/p retry.attempt=2`) || strings.Contains(got, "during") || strings.Contains(got, "debug") {
		t.Errorf("base destination got:\n%s", got)
	}
	if got := diverted.String(); !strings.Contains(got, `"msg":"during","target":"s3://b/p","retry":{"attempt":2}`) ||
		!strings.Contains(got, `"msg":"debug during"`) || strings.Contains(got, "before") || strings.Contains(got, "after") {
		t.Errorf("diverted destination got:\n%s", got)
	}
}
