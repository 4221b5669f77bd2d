package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testSpecs = []OptionSpec{
	{Name: "level", Type: Int, Default: "3"},
	{Name: "name", Type: String, Required: true},
	{Name: "fast", Type: Bool},
	{Name: "keys", Type: List},
	{Name: "timeout", Type: Duration},
	{Name: "key_file", Type: String, Secret: true},
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(testSpecs, map[string]any{
		"name": "x", "level": float64(7), "fast": "true", "keys": "a, b,,c", "timeout": "90s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Int("level") != 7 || o.String("name") != "x" || !o.Bool("fast") || o.Duration("timeout") != 90*time.Second {
		t.Fatalf("values %+v", o.values)
	}
	if got := o.List("keys"); strings.Join(got, "|") != "a|b|c" {
		t.Fatalf("list %q", got)
	}
	d, _ := ParseOptions(testSpecs, map[string]any{"name": "y"})
	if d.Int("level") != 3 || d.Has("fast") {
		t.Fatal("defaults wrong")
	}
}

func TestParseOptionsErrors(t *testing.T) {
	cases := []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"name": "x", "levle": 3}, "levle: unknown option (known: level, name, fast, keys, timeout, key_file)"},
		{map[string]any{"name": "x", "level": "fast"}, `level: want an integer, got "fast"`},
		{map[string]any{"name": "x", "level": 2.5}, "level: want an integer, got a number 2.5"},
		{map[string]any{"name": "x", "level": nil}, "level: want an integer, got nothing"},
		{map[string]any{"name": "x", "fast": nil}, "fast: want true or false, got nothing"},
		{map[string]any{"name": "x", "fast": 1}, "fast: want true or false, got a number 1"},
		{map[string]any{"name": "x", "fast": "maybe"}, `fast: want true or false, got "maybe"`},
		{map[string]any{"name": "x", "keys": []any{"a", 3}}, "keys: want a list of strings"},
		{map[string]any{"name": "x", "timeout": "soon"}, "timeout: want a duration"},
		{map[string]any{}, "name: required option missing"},
		{map[string]any{"name": "x", "key_file": map[string]any{"AGE-SECRET": 1}}, "key_file: want a string, got a map"},
		{map[string]any{"name": "x", "key_file": []any{"AGE-SECRET-KEY-1"}}, "key_file: want a string, got a list"},
	}
	for _, c := range cases {
		_, err := ParseOptions(testSpecs, c.raw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want %q", c.raw, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "AGE-SECRET") {
			t.Errorf("%v: error shows the secret option's value: %v", c.raw, err)
		}
	}
	_, err := ParseOptions(testSpecs, map[string]any{"name": "x", "bogus": 1})
	if !errors.Is(err, ErrUnknownOption) {
		t.Fatalf("unknown option error does not wrap ErrUnknownOption: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	spec := StageSpec{Name: "x", Kind: Compression, Extension: ".x", New: func(Options) (Stage, error) { return nil, nil }}
	r.RegisterStage(spec)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("duplicate registration did not panic")
			}
		}()
		r.RegisterStage(spec)
	}()
	_, err := r.Stage("y")
	if !errors.Is(err, ErrUnknownStage) || !strings.Contains(err.Error(), "known: x") {
		t.Fatalf("unknown stage error: %v", err)
	}
	if _, ok := r.StageByExtension(".x"); !ok {
		t.Fatal("extension lookup failed")
	}
	var zero Registry
	if len(zero.Stages()) != 0 {
		t.Fatal("zero registry not empty")
	}
	if _, err := zero.Backend("s3"); !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("zero registry backend: %v", err)
	}
}

func TestExpandName(t *testing.T) {
	at := time.Date(2026, 11, 29, 4, 25, 0, 0, time.FixedZone("x", 3600))
	v := NameVars{Pipeline: "photos", Source: "my/photos", Host: "nas", Time: at}
	cases := map[string]string{
		"":                         "my_photos-20261129T032500Z",
		"{pipeline}-{host}-{time}": "photos-nas-20261129T032500Z",
		"daily/{date}/{source}":    "daily/2026-11-29/my_photos",
		"db-{time}.sql":            "db-20261129T032500Z.sql",
	}
	for tmpl, want := range cases {
		got, err := ExpandName(tmpl, v)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", tmpl, got, err, want)
		}
	}
	for _, bad := range []string{"{nope}", "{time", "/abs-{time}", "a/../b", "a//b", "{pipeline}x", "{source}-{time}"} {
		vars := v
		switch bad {
		case "{pipeline}x":
			vars.Pipeline = ""
		case "{source}-{time}":
			vars.Source = "" // a /dev/fd/N source
		}
		if got, err := ExpandName(bad, vars); err == nil {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}

// TestNameEscapeMark: gocloud's drivers store a name holding "__0x" (or a
// folder ending in "..") under another key, so a template may not make
// one, while placeholder values are changed to fit.
func TestNameEscapeMark(t *testing.T) {
	v := NameVars{Pipeline: "__0x41__", Source: "x__0x41__y", Host: "h___0x2f__", Time: time.Unix(0, 0)}
	for tmpl, want := range map[string]string{
		"{source}":          "x_0x41__y",
		"{pipeline}-{host}": "_0x41__-h_0x2f__",
		"a__0X41__{source}": "a__0X41__x_0x41__y",
		"a../{source}..":    "", // refused
		"x__0x41__y":        "", // refused
		"x__0x":             "", // refused: every "__0x" is, not only a whole escape
		"a_{pipeline}":      "", // "_" + "_0x…" makes the mark again: refused, not silently renamed
	} {
		got, err := ExpandName(tmpl, v)
		switch {
		case want == "" && err == nil:
			t.Errorf("%q accepted as %q", tmpl, got)
		case want == "" && !strings.Contains(err.Error(), "gocloud"):
			t.Errorf("%q: error does not say why: %v", tmpl, err)
		case want != "" && (err != nil || got != want):
			t.Errorf("%q: got %q, %v; want %q", tmpl, got, err, want)
		}
	}
}
