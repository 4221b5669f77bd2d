package pipeline

import (
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"
)

// DefaultNameTemplate is the object name used when none is configured.
const DefaultNameTemplate = "{source}-{time}"

// TimeFormat is how {time} renders: UTC, basic ISO 8601, sortable.
const TimeFormat = "20060102T150405Z"

// NameVars are the values name templates can refer to.
type NameVars struct {
	Pipeline string // {pipeline}; empty for one-off backups
	Source   string // {source}: base name of the source, or "stdin"; "" refuses {source}
	Host     string // {host}: the short host name
	Time     time.Time
}

// ExpandName fills a name template: {pipeline}, {source}, {host}, {time}
// (UTC, 20261129T042500Z) and {date} (2026-11-29). The result is a relative
// object name: it may contain "/" for sub-folders, but no empty, "." or
// ".." segments, no leading "/" and no control characters. Unknown
// placeholders are errors, and so are {pipeline} and {source} without a
// value.
func ExpandName(tmpl string, v NameVars) (string, error) {
	if tmpl == "" {
		tmpl = DefaultNameTemplate
	}
	vals := map[string]string{
		"pipeline": v.Pipeline,
		"source":   v.Source,
		"host":     v.Host,
		"time":     v.Time.UTC().Format(TimeFormat),
		"date":     v.Time.UTC().Format("2006-01-02"),
	}
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("name template %q: unclosed {", tmpl)
		}
		key := rest[i+1 : i+j]
		val, ok := vals[key]
		if !ok {
			return "", fmt.Errorf("name template %q: unknown placeholder {%s} (known: {pipeline}, {source}, {host}, {time}, {date})", tmpl, key)
		}
		if key == "pipeline" && val == "" {
			return "", fmt.Errorf("name template %q: {pipeline} is only set when running a declared pipeline", tmpl)
		}
		if key == "source" && val == "" {
			return "", fmt.Errorf("name template %q: {source} is empty: the source's path (a file descriptor such as /dev/fd/63) has no name to use; use a template without {source}", tmpl)
		}
		b.WriteString(sanitizeSegment(val))
		rest = rest[i+j+1:]
	}
	name := b.String()
	if err := CheckName(name); err != nil {
		return "", fmt.Errorf("name template %q: %w", tmpl, err)
	}
	return name, nil
}

// CheckName reports whether name is a safe relative object name.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("object name is empty")
	}
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("object name %q must not start with /", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("object name %q has an empty, . or .. segment", name)
		}
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("object name %q has a control character", name)
		}
	}
	return nil
}

// sanitizeSegment keeps placeholder values from adding path structure:
// slashes and control characters become "_".
func sanitizeSegment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
}

// ShortHost is the {host} of name templates: this machine's host name up
// to its first dot ("" when the system does not say).
func ShortHost() string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	return host
}
