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
// object name that [CheckName] accepts; placeholder values are made to fit
// (see [sanitizeSegment]), a template's own text is not. Unknown
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

// EscapeMark is the text gocloud's drivers (file, S3, GCS, Azure) start
// their key escapes with ("__0x41__" is "A"). So that escaping stays
// reversible, they escape a literal "__0x" too: an object named with it
// would be stored under a key other than its name, which is the key the
// aws CLI or ls would need. Object names may not contain it.
const EscapeMark = "__0x"

// CheckName reports whether name is a safe relative object name: it may
// contain "/" for sub-folders, but no empty, "." or ".." segments, no
// leading "/" and no control characters; and nothing a storage driver
// would escape in the key it stores, so that the key is the name on every
// backend but Azure (which escapes "\"", "#", "%" and "?" as well): no
// [EscapeMark] and no folder whose name ends in "..".
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("object name is empty")
	}
	if strings.HasPrefix(name, "/") {
		return fmt.Errorf("object name %q must not start with /", name)
	}
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("object name %q has an empty, . or .. segment", name)
		}
		if i < len(segs)-1 && strings.HasSuffix(seg, "..") {
			return fmt.Errorf("object name %q has a folder whose name ends in \"..\": the storage library (gocloud) would escape the \"/\" after it, storing a key other than the name; choose another name", name)
		}
	}
	if strings.Contains(name, EscapeMark) {
		return fmt.Errorf("object name %q contains %q, which the storage library (gocloud) escapes in the keys it stores (\"__0x41__\" stands for \"A\"), so the key would differ from the name; choose a name without it", name, EscapeMark)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("object name %q has a control character", name)
		}
	}
	return nil
}

// sanitizeSegment keeps placeholder values from adding path structure:
// slashes and control characters become "_". It also keeps them from
// holding [EscapeMark]: "__0x" becomes "_0x" (a source file named
// "a__0x41__b" is stored as "a_0x41__b-TIME"), until none is left.
func sanitizeSegment(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
	for strings.Contains(s, EscapeMark) {
		s = strings.ReplaceAll(s, EscapeMark, EscapeMark[1:])
	}
	return s
}

// ShortHost is the {host} of name templates: this machine's host name up
// to its first dot ("" when the system does not say).
func ShortHost() string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	return host
}
