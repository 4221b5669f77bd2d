package main

import (
	"context"
	"log/slog"
	"slices"
	"sync"
)

// logRouter is the handler behind a command's logger. Records go to its
// current destination: stderr at first and, while a backup's progress
// display or JSON events run, wherever the reporter wants them (above the
// bars, or serialised with the events). Loggers made from it before a
// switch follow it: the targets' loggers are made when they open, before
// the display exists.
type logRouter struct {
	mu   sync.RWMutex
	dest slog.Handler
}

// newLogRouter returns a router writing to dest, and a logger over it.
func newLogRouter(dest slog.Handler) (*logRouter, *slog.Logger) {
	r := &logRouter{dest: dest}
	return r, slog.New(routedHandler{r: r})
}

// divert sends records to h until the returned function restores the
// previous destination.
func (r *logRouter) divert(h slog.Handler) (restore func()) {
	r.mu.Lock()
	prev := r.dest
	r.dest = h
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.dest = prev
		r.mu.Unlock()
	}
}

// routedHandler hands each record to the router's current destination,
// with the attributes and groups its logger was given applied in order.
type routedHandler struct {
	r   *logRouter
	ops []func(slog.Handler) slog.Handler // WithAttrs and WithGroup calls
}

func (h routedHandler) target() slog.Handler {
	h.r.mu.RLock()
	d := h.r.dest
	h.r.mu.RUnlock()
	for _, op := range h.ops {
		d = op(d)
	}
	return d
}

func (h routedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	h.r.mu.RLock()
	defer h.r.mu.RUnlock()
	return h.r.dest.Enabled(ctx, l)
}

func (h routedHandler) Handle(ctx context.Context, rec slog.Record) error {
	return h.target().Handle(ctx, rec)
}

func (h routedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(d slog.Handler) slog.Handler { return d.WithAttrs(attrs) })
}

func (h routedHandler) WithGroup(name string) slog.Handler {
	return h.with(func(d slog.Handler) slog.Handler { return d.WithGroup(name) })
}

func (h routedHandler) with(op func(slog.Handler) slog.Handler) routedHandler {
	return routedHandler{r: h.r, ops: append(slices.Clip(h.ops), op)}
}
