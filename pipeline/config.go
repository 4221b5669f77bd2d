package pipeline

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-backup/sluice/pipeline/archive"
)

// A Config is a decoded, validated config file: the pipelines it declares,
// each with the defaults section already applied.
//
// The document form (YAML shown; TOML and JSON have the same shape):
//
//	defaults:                 # optional; fills what a pipeline leaves unset
//	  stages: [...]
//	pipelines:
//	  photos:
//	    source: ~/photos        # or sources: [a, b] (one object per source)
//	    exclude: ["*.tmp"]
//	    stages:                 # backup order; one-key maps name → options
//	      - zstd: {level: 3}
//	      - age: {recipients_file: ~/.config/sluice/recipients.txt}
//	    targets:                # URL strings, or maps with url + target options
//	      - s3://bucket/photos
//	      - {url: file:///srv/backup, ...}
//	    name: "{pipeline}-{host}-{time}"
//	    retention: {keep_last: 7, keep_daily: 14}
//	    allow_plaintext: false  # true allows a chain without encryption
//	    all_or_nothing: false   # true aborts every target when one fails
//	    allow_changing_files: false # true archives files changing while read, with a warning
//	    stall_timeout: 10m      # a target with no progress this long is aborted
//	    upload_memory: 48MiB    # what all uploads (S3, GCS, Azure) together buffer
//	    bwlimit: 10MiB          # upload rate cap, all targets together (per second)
//	    bwlimit_target: 4MiB    # upload rate cap per target (per second)
type Config struct {
	// Defaults is the defaults section as written (after environment
	// overrides), before it is applied to the pipelines.
	Defaults PipelineConfig
	// Pipelines are the effective pipelines, by name.
	Pipelines map[string]*PipelineConfig
}

// Names returns the pipeline names, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Pipelines))
	for n := range c.Pipelines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PipelineConfig is one declared pipeline (or the defaults section).
// Nil slices and pointers mean "not set", so that defaults can fill them.
type PipelineConfig struct {
	// Name is the pipeline's name, its key under pipelines.
	Name string
	// Sources are the absolute paths backed up; each becomes one object.
	Sources []string
	// Exclude are archive exclude patterns for directory sources.
	Exclude []string
	// Stages are the configured stages in backup order.
	Stages []StageConfig
	// Targets are where objects go.
	Targets []TargetConfig
	// NameTemplate is the object name template (see [ExpandName]).
	NameTemplate string
	// Retention is the pipeline's retention policy; nil when none is set.
	Retention *Retention
	// AllowPlaintext permits a chain without an encryption stage.
	AllowPlaintext *bool
	// AllOrNothing aborts every target when one fails (see
	// [Backup.AllOrNothing]).
	AllOrNothing *bool
	// AllowChangingFiles archives files that change while read as read,
	// with a warning (see [Backup.AllowChangingFiles]).
	AllowChangingFiles *bool
	// StallTimeout overrides the fan-out stall timeout (see
	// [Backup.StallTimeout]); 0 disables it.
	StallTimeout *time.Duration
	// UploadMemory overrides the upload memory budget (see
	// [Backup.UploadMemory]), in bytes, at least [MinUploadMemory].
	UploadMemory *int64
	// BWLimit and BWLimitTarget cap the upload rate, in bytes per second,
	// of all targets together and of each (see [Bandwidth]); at least
	// [MinRate].
	BWLimit, BWLimitTarget *int64

	// path is the key path of the section, for messages.
	path string
}

// StageConfig is one configured stage of a pipeline, its options already
// validated against the stage's option records.
type StageConfig struct {
	Spec    StageSpec
	Options Options
	// Path is the key path of the entry ("pipelines.photos.stages[1]"),
	// for error messages.
	Path string
	// From names the environment variables or flags that gave options
	// of the stage, comma-separated; empty when all came from the file.
	From string
}

// TargetConfig is one target of a pipeline.
type TargetConfig struct {
	// URL is the target URL as written, query included.
	URL string
	// Options are the target options given beside url, validated against
	// the backend's option records at decode time. They are kept as raw
	// values because the backend parses them together with the URL's query
	// (backends.OpenTarget's extra argument), so options a backend adds
	// later need no change here.
	Options map[string]any
	// Path is the key path of the entry, for error messages.
	Path string
	// place is what [DecodeOptions.CheckTarget] returned for the entry.
	place string
}

// A ConfigError is a problem with a config value. Path is the key path
// ("pipelines.docs.retention"); From names an environment variable or flag
// when the value came from there.
type ConfigError struct {
	Path string
	From string
	Err  error
}

func (e *ConfigError) Error() string {
	p := e.Path
	if e.From != "" {
		p += " (from " + e.From + ")"
	}
	if p == "" {
		return e.Err.Error()
	}
	return p + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// ErrUnknownKey is wrapped by errors about config keys sluice does not know.
var ErrUnknownKey = errors.New("unknown key")

// ErrLiteralSecret is wrapped by errors about secret material written into
// the config text itself.
var ErrLiteralSecret = errors.New("secret written into the config")

// DecodeOptions tune [DecodeConfig].
type DecodeOptions struct {
	// BaseDir is the directory relative paths (sources and *_file options)
	// are resolved against: the config file's directory. Empty means the
	// working directory.
	BaseDir string
	// Home replaces a leading "~" in paths; empty means [HomeDir].
	Home string
	// Origins maps key paths to where their values came from (an
	// environment variable, a flag), as [ApplyEnv] returns them.
	Origins map[string]string
	// Now fills {time} when name templates are checked; zero means now.
	Now time.Time
	// CheckTarget, if set, checks each target's URL and options the way
	// opening it would, without reaching the store
	// (backends.TargetPlace), so that a typo in a URL's query is a config
	// error, not a failed target. It returns the place the target stores
	// to: two targets of a pipeline with the same place are one target
	// given twice, a config error, as a backup refuses it. Without
	// CheckTarget, targets are neither checked nor compared.
	CheckTarget func(url string, options map[string]any) (place string, err error)
}

// Known keys, in the order messages list them.
var (
	sectionKeys   = []string{"source", "sources", "exclude", "stages", "targets", "name", "retention", "allow_plaintext", "all_or_nothing", "allow_changing_files", "stall_timeout", "upload_memory", "bwlimit", "bwlimit_target"}
	defaultsKeys  = []string{"exclude", "stages", "targets", "name", "retention", "allow_plaintext", "all_or_nothing", "allow_changing_files", "stall_timeout", "upload_memory", "bwlimit", "bwlimit_target"}
	topKeys       = []string{"defaults", "pipelines"}
	retentionKeys = []string{"keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_within"}
)

// DecodeConfig decodes a config document — the generic map a YAML, TOML
// or JSON reader produces — strictly into a [Config]: an unknown key, a
// value of the wrong type, an unknown stage or target option, a literal
// secret or an invalid name template is a [*ConfigError] naming the key
// path and, for unknown keys, the known alternatives. Stage options are
// validated against the stages' option records in reg; stages are not built
// (see [PipelineConfig.BuildStages]), so no key file is read here.
//
// Relative paths (source, sources and stage options ending in _file) are
// resolved against opts.BaseDir, and "~" against the home directory.
func DecodeConfig(reg *Registry, raw map[string]any, opts DecodeOptions) (*Config, error) {
	d := &decoder{reg: reg, opts: opts}
	if d.opts.Home == "" {
		d.opts.Home = HomeDir()
	}
	if err := d.checkSecrets("", raw); err != nil {
		return nil, err
	}
	if err := d.checkKeys("", raw, topKeys); err != nil {
		return nil, err
	}
	cfg := &Config{Pipelines: map[string]*PipelineConfig{}}
	if v, ok := raw["defaults"]; ok && v != nil {
		m, err := d.asMap("defaults", v)
		if err != nil {
			return nil, err
		}
		def, err := d.section("defaults", "", m, defaultsKeys)
		if err != nil {
			return nil, err
		}
		cfg.Defaults = *def
	}
	pv, ok := raw["pipelines"]
	if !ok || pv == nil {
		return nil, d.errf("pipelines", "no pipelines declared")
	}
	pm, err := d.asMap("pipelines", pv)
	if err != nil {
		return nil, err
	}
	if len(pm) == 0 {
		return nil, d.errf("pipelines", "no pipelines declared")
	}
	envNames := map[string]string{}
	for _, name := range sortedKeys(pm) {
		path := "pipelines." + name
		if !validPipelineName(name) {
			return nil, d.errf(path, "bad pipeline name %q: use letters, digits, '-' and '_', starting with a letter or digit", name)
		}
		if other, dup := envNames[EnvName(name)]; dup {
			return nil, d.errf(path, "pipelines %q and %q share the environment name %s", other, name, EnvName(name))
		}
		envNames[EnvName(name)] = name
		if pm[name] == nil {
			// Every key commented out: dropping the pipeline would skip
			// it on every run without a word.
			return nil, d.errf(path, "empty pipeline (null, or every key commented out): give source: PATH, and targets unless defaults has them")
		}
		m, err := d.asMap(path, pm[name])
		if err != nil {
			return nil, err
		}
		p, err := d.section(path, name, m, sectionKeys)
		if err != nil {
			return nil, err
		}
		if err := d.finish(p, &cfg.Defaults); err != nil {
			return nil, err
		}
		cfg.Pipelines[name] = p
	}
	return cfg, nil
}

func validPipelineName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '-' || r == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// EnvName is how a pipeline name appears in environment variable names:
// upper case, with every character other than a letter or digit as "_"
// ("db-prod" → "DB_PROD").
func EnvName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

type decoder struct {
	reg  *Registry
	opts DecodeOptions
}

// errf returns a ConfigError at path, naming the origin of the value at
// path or at its nearest parent that has one.
func (d *decoder) errf(path, format string, args ...any) error {
	return d.wrap(path, fmt.Errorf(format, args...))
}

func (d *decoder) wrap(path string, err error) error {
	return &ConfigError{Path: path, From: d.origin(path), Err: err}
}

func (d *decoder) origin(path string) string {
	for p := path; p != ""; {
		if o, ok := d.opts.Origins[p]; ok {
			return o
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return ""
}

func (d *decoder) checkKeys(path string, m map[string]any, known []string) error {
	for _, k := range sortedKeys(m) {
		if !slices.Contains(known, k) {
			return d.wrap(join(path, k), fmt.Errorf("%w (known: %s)", ErrUnknownKey, strings.Join(known, ", ")))
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// section decodes a pipeline or the defaults section.
func (d *decoder) section(path, name string, m map[string]any, known []string) (*PipelineConfig, error) {
	if err := d.checkKeys(path, m, known); err != nil {
		return nil, err
	}
	p := &PipelineConfig{Name: name, path: path}
	_, hasSource := m["source"]
	_, hasSources := m["sources"]
	if hasSource && hasSources {
		return nil, d.errf(path, "give source or sources, not both")
	}
	for _, key := range []string{"source", "sources"} {
		v, ok := m[key]
		if !ok {
			continue
		}
		list, err := d.stringList(join(path, key), v)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			if s == "" {
				return nil, d.errf(join(path, key), "empty path")
			}
			if s == "-" {
				return nil, d.errf(join(path, key), "stdin (-) cannot be a pipeline source; use sluice backup - for streams")
			}
			p.Sources = append(p.Sources, d.resolvePath(s))
		}
	}
	if v, ok := m["exclude"]; ok {
		list, err := d.stringList(join(path, "exclude"), v)
		if err != nil {
			return nil, err
		}
		for i, pat := range list {
			// A malformed pattern is wrong whatever the sources are, so
			// it is a config error here rather than a failed run later.
			if err := archive.CheckPatterns([]string{pat}); err != nil {
				return nil, d.wrap(fmt.Sprintf("%s.exclude[%d]", path, i), err)
			}
		}
		p.Exclude = append([]string{}, list...)
	}
	if v, ok := m["name"]; ok {
		s, err := d.str(join(path, "name"), v)
		if err != nil {
			return nil, err
		}
		if s == "" {
			// As an empty --name is: an empty template is no template.
			return nil, d.errf(join(path, "name"), "empty: leave the key out for the default name")
		}
		p.NameTemplate = s
	}
	if v, ok := m["allow_plaintext"]; ok {
		b, err := d.boolean(join(path, "allow_plaintext"), v)
		if err != nil {
			return nil, err
		}
		p.AllowPlaintext = &b
	}
	if v, ok := m["all_or_nothing"]; ok {
		b, err := d.boolean(join(path, "all_or_nothing"), v)
		if err != nil {
			return nil, err
		}
		p.AllOrNothing = &b
	}
	if v, ok := m["allow_changing_files"]; ok {
		b, err := d.boolean(join(path, "allow_changing_files"), v)
		if err != nil {
			return nil, err
		}
		p.AllowChangingFiles = &b
	}
	if v, ok := m["stall_timeout"]; ok {
		if isZeroNumber(v) {
			v = "0s" // 0 waits forever; YAML, TOML and JSON give it as a number
		}
		dur, err := convert(OptionSpec{Type: Duration}, v)
		if err != nil {
			return nil, d.wrap(join(path, "stall_timeout"), err)
		}
		if dur.(time.Duration) < 0 {
			return nil, d.errf(join(path, "stall_timeout"), "must not be negative")
		}
		st := dur.(time.Duration)
		p.StallTimeout = &st
	}
	if v, ok := m["upload_memory"]; ok {
		n, err := d.size(join(path, "upload_memory"), v)
		if err != nil {
			return nil, err
		}
		if err := CheckUploadMemory(n); err != nil {
			return nil, d.wrap(join(path, "upload_memory"), err)
		}
		p.UploadMemory = &n
	}
	for _, r := range []struct {
		key   string
		field **int64
	}{{"bwlimit", &p.BWLimit}, {"bwlimit_target", &p.BWLimitTarget}} {
		if v, ok := m[r.key]; ok {
			n, err := d.rate(join(path, r.key), v)
			if err != nil {
				return nil, err
			}
			*r.field = &n
		}
	}
	if v, ok := m["stages"]; ok {
		stages, err := d.stages(join(path, "stages"), v)
		if err != nil {
			return nil, err
		}
		p.Stages = stages
	}
	if v, ok := m["targets"]; ok {
		targets, err := d.targets(join(path, "targets"), v)
		if err != nil {
			return nil, err
		}
		p.Targets = targets
	}
	if v, ok := m["retention"]; ok {
		// An empty block (retention: {}, or every key commented out) is
		// a policy that keeps everything; it replaces the defaults' as
		// any retention block does, so prune refuses to run rather than
		// apply the defaults'.
		if v == nil {
			v = map[string]any{}
		}
		r, err := d.retention(join(path, "retention"), v)
		if err != nil {
			return nil, err
		}
		p.Retention = r
	}
	return p, nil
}

// isZeroNumber reports whether v is the number 0 as a config reader
// gives it.
func isZeroNumber(v any) bool {
	switch x := v.(type) {
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	}
	return false
}

// finish applies the defaults to p and checks what only the effective
// pipeline can show.
func (d *decoder) finish(p *PipelineConfig, def *PipelineConfig) error {
	if p.Exclude == nil {
		p.Exclude = slices.Clone(def.Exclude)
	}
	if p.Stages == nil {
		p.Stages = slices.Clone(def.Stages)
	}
	if p.Targets == nil {
		p.Targets = slices.Clone(def.Targets)
	}
	if p.NameTemplate == "" {
		p.NameTemplate = def.NameTemplate
	}
	inherit(&p.Retention, def.Retention)
	inherit(&p.AllowPlaintext, def.AllowPlaintext)
	inherit(&p.AllOrNothing, def.AllOrNothing)
	inherit(&p.AllowChangingFiles, def.AllowChangingFiles)
	inherit(&p.StallTimeout, def.StallTimeout)
	inherit(&p.UploadMemory, def.UploadMemory)
	inherit(&p.BWLimit, def.BWLimit)
	inherit(&p.BWLimitTarget, def.BWLimitTarget)
	if len(p.Sources) == 0 {
		return d.errf(p.path, "no source: give source: PATH or sources: [PATH, ...]")
	}
	if len(p.Targets) == 0 {
		return d.errf(p.path, "no targets: give targets: [URL, ...] here or in defaults")
	}
	// A backup refuses a target given twice before it opens any; the
	// same place is caught here too, before any run.
	seen := map[string]string{}
	for _, tc := range p.Targets {
		if tc.place == "" {
			continue
		}
		if prev, ok := seen[tc.place]; ok {
			return d.errf(tc.Path, "the same target as %s: give each target once", prev)
		}
		seen[tc.place] = tc.Path
	}
	chain := make([]ChainStage, len(p.Stages))
	encrypted := false
	for i, s := range p.Stages {
		chain[i] = ChainStage{Spec: s.Spec}
		encrypted = encrypted || s.Spec.Kind == Encryption
	}
	if err := CheckChain(chain); err != nil {
		return d.wrap(p.path+".stages", err)
	}
	if !encrypted && (p.AllowPlaintext == nil || !*p.AllowPlaintext) {
		return d.errf(p.path+".stages", "no encryption stage: sluice never stores plaintext by accident; add one (- age: {recipients_file: FILE}) or set allow_plaintext: true")
	}
	if p.NameTemplate == "" {
		p.NameTemplate = DefaultNameTemplate
	}
	now := d.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if _, err := ExpandName(p.NameTemplate, NameVars{Pipeline: p.Name, Source: "source", Host: "host", Time: now}); err != nil {
		return d.wrap(p.path+".name", err)
	}
	if len(p.Sources) > 1 && !strings.Contains(p.NameTemplate, "{source}") {
		return d.errf(p.path+".name", "several sources need {source} in the name template, so their objects differ")
	}
	// A source is known by its name, in object names and to retention,
	// which applies per source: two sources of one name would share one
	// history and prune one's backups for the other's.
	names := map[string]string{}
	for _, src := range p.Sources {
		n := sourceName(src)
		if prev, ok := names[n]; ok {
			return d.errf(p.path+".sources", "%s and %s have the same name %q, which {source} and retention know a source by; back them up in separate pipelines", prev, src, n)
		}
		names[n] = src
	}
	return nil
}

// stages decodes a stage list: each entry is a stage name, or a map with
// exactly one key, the stage name, whose value holds its options.
func (d *decoder) stages(path string, v any) ([]StageConfig, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			// Every entry commented out: neither the defaults' stages
			// nor none is clearly meant.
			return nil, d.errf(path, "no value (null, or every entry commented out): list the stages, or write [] for none")
		}
		return nil, d.errf(path, "want a list of stages such as [{zstd: {level: 3}}, {age: {recipients_file: FILE}}], got %s", typeName(v))
	}
	out := make([]StageConfig, 0, len(list))
	for i, e := range list {
		ep := fmt.Sprintf("%s[%d]", path, i)
		var name string
		var rawOpts any
		switch x := e.(type) {
		case string:
			name = x
		default:
			m, err := d.asMap(ep, e)
			if err != nil {
				return nil, d.errf(ep, "want a stage name or a one-key map {name: {options}}, got %s", typeName(e))
			}
			if len(m) != 1 {
				return nil, d.errf(ep, "want exactly one stage per entry, got %d keys (%s); write each stage as its own list item", len(m), strings.Join(sortedKeys(m), ", "))
			}
			for k, o := range m {
				name, rawOpts = k, o
			}
		}
		spec, err := d.reg.Stage(name)
		if err != nil {
			return nil, d.wrap(ep, err)
		}
		op := ep + "." + name
		raw := map[string]any{}
		if rawOpts != nil {
			m, err := d.asMap(op, rawOpts)
			if err != nil {
				return nil, err
			}
			for k, val := range m {
				if strings.HasSuffix(k, "_file") {
					val = d.resolvePaths(val)
				}
				raw[k] = val
			}
		}
		opts, err := ParseOptions(spec.Options, raw)
		if err != nil {
			return nil, d.prefixOptionError(op, err)
		}
		// What gave options from outside the file (a variable, a flag
		// of run), for errors building the stage.
		var from []string
		for _, k := range sortedKeys(raw) {
			if o := d.opts.Origins[op+"."+k]; o != "" && !slices.Contains(from, o) {
				from = append(from, o)
			}
		}
		out = append(out, StageConfig{Spec: spec, Options: opts, Path: ep, From: strings.Join(from, ", ")})
	}
	return out, nil
}

// prefixOptionError turns ParseOptions' "key: message" into a ConfigError
// at path.key.
func (d *decoder) prefixOptionError(path string, err error) error {
	msg := err.Error()
	if key, _, ok := strings.Cut(msg, ": "); ok && nameRE.MatchString(key) {
		return &ConfigError{Path: path + "." + key, From: d.origin(path + "." + key), Err: trimKey{err: err, key: key}}
	}
	return d.wrap(path, err)
}

// trimKey drops the "key: " prefix of a wrapped error's message, since
// the ConfigError path already names the key.
type trimKey struct {
	err error
	key string
}

func (t trimKey) Error() string { return strings.TrimPrefix(t.err.Error(), t.key+": ") }
func (t trimKey) Unwrap() error { return t.err }

// targets decodes a target list: URL strings, or maps with a url key and
// target options.
func (d *decoder) targets(path string, v any) ([]TargetConfig, error) {
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case string:
		list = []any{x}
	default:
		return nil, d.errf(path, "want a list of target URLs or {url: URL, ...} maps, got %s", typeName(v))
	}
	out := make([]TargetConfig, 0, len(list))
	for i, e := range list {
		ep := fmt.Sprintf("%s[%d]", path, i)
		tc := TargetConfig{Path: ep, Options: map[string]any{}}
		switch x := e.(type) {
		case string:
			tc.URL = x
		default:
			m, err := d.asMap(ep, e)
			if err != nil {
				return nil, d.errf(ep, "want a target URL or a map with url and target options, got %s", typeName(e))
			}
			u, ok := m["url"]
			if !ok {
				return nil, d.missingURL(ep, m)
			}
			if tc.URL, err = d.str(ep+".url", u); err != nil {
				return nil, err
			}
			for k, val := range m {
				if k != "url" {
					tc.Options[k] = val
				}
			}
		}
		if strings.TrimSpace(tc.URL) == "" {
			return nil, d.errf(ep, "empty target URL")
		}
		spec, err := d.reg.Backend(urlScheme(tc.URL))
		if err != nil {
			return nil, d.wrap(ep, err)
		}
		known := make([]string, 0, len(spec.Options)+1)
		known = append(known, "url")
		for _, o := range spec.Options {
			known = append(known, o.Name)
		}
		if err := d.checkKeys(ep, tc.Options, known); err != nil {
			return nil, err
		}
		if _, err := ParseOptions(spec.Options, tc.Options); err != nil {
			return nil, d.prefixOptionError(ep, err)
		}
		if d.opts.CheckTarget != nil {
			if tc.place, err = d.opts.CheckTarget(tc.URL, tc.Options); err != nil {
				return nil, d.wrap(ep, err)
			}
		}
		out = append(out, tc)
	}
	return out, nil
}

// missingURL is the error for a target map m without url. Without a URL
// there is no backend to check the other keys against, so a key that no
// backend takes (most likely a misspelled url) is named as unknown;
// otherwise the error lists the keys the map has.
func (d *decoder) missingURL(path string, m map[string]any) error {
	known := []string{"url"}
	for _, spec := range d.reg.Backends() {
		for _, o := range spec.Options {
			if !slices.Contains(known, o.Name) {
				known = append(known, o.Name)
			}
		}
	}
	keys := sortedKeys(m)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return d.wrap(join(path, k), fmt.Errorf("%w: a target map needs url and takes its backend's options (sluice plugins lists them)", ErrUnknownKey))
		}
	}
	if len(keys) == 0 {
		return d.errf(path, "missing url")
	}
	return d.errf(path, "missing url (the map has only %s)", strings.Join(keys, ", "))
}

// urlScheme returns a target URL's scheme; a URL without "://" is S3, as
// backends.OpenTarget reads it.
func urlScheme(u string) string {
	if s, _, ok := strings.Cut(u, "://"); ok {
		return strings.ToLower(s)
	}
	if s, _, ok := strings.Cut(u, ":"); ok && !strings.Contains(s, "/") {
		return strings.ToLower(s)
	}
	return "s3"
}

func (d *decoder) retention(path string, v any) (*Retention, error) {
	m, err := d.asMap(path, v)
	if err != nil {
		return nil, err
	}
	if err := d.checkKeys(path, m, retentionKeys); err != nil {
		return nil, err
	}
	r := &Retention{}
	counts := map[string]*int{
		"keep_last": &r.Last, "keep_hourly": &r.Hourly, "keep_daily": &r.Daily,
		"keep_weekly": &r.Weekly, "keep_monthly": &r.Monthly, "keep_yearly": &r.Yearly,
	}
	for k, dst := range counts {
		val, ok := m[k]
		if !ok {
			continue
		}
		n, err := d.integer(join(path, k), val)
		if err != nil {
			return nil, err
		}
		if n < -1 {
			return nil, d.errf(join(path, k), "want a count ≥ 0 (or -1 for unlimited), got %d", n)
		}
		*dst = n
	}
	if val, ok := m["keep_within"]; ok {
		s, err := d.str(join(path, "keep_within"), val)
		if err != nil {
			return nil, err
		}
		if r.Within, err = ParseRetentionDuration(s); err != nil {
			return nil, d.wrap(join(path, "keep_within"), err)
		}
	}
	return r, nil
}

func (d *decoder) asMap(path string, v any) (map[string]any, error) {
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			out[fmt.Sprint(k)] = val
		}
		return out, nil
	}
	return nil, d.errf(path, "want a map, got %s", typeName(v))
}

func (d *decoder) str(path string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int, int64, float64:
		return fmt.Sprint(x), nil
	}
	return "", d.errf(path, "want a string, got %s", typeName(v))
}

// stringList accepts a list of strings or one string (comma-separated
// when it came from the environment).
func (d *decoder) stringList(path string, v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		if d.origin(path) != "" {
			return splitList(x), nil
		}
		return []string{x}, nil
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, d.errf(fmt.Sprintf("%s[%d]", path, i), "want a string, got %s", typeName(e))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, d.errf(path, "want a string or a list of strings, got %s", typeName(v))
}

// integer and boolean convert like option values do, so config keys and
// stage options accept the same spellings (3, "3"; true, "yes" is not).
func (d *decoder) integer(path string, v any) (int, error) {
	n, err := convert(OptionSpec{Type: Int}, v)
	if err != nil {
		return 0, d.wrap(path, err)
	}
	return n.(int), nil
}

func (d *decoder) boolean(path string, v any) (bool, error) {
	b, err := convert(OptionSpec{Type: Bool}, v)
	if err != nil {
		return false, d.wrap(path, err)
	}
	return b.(bool), nil
}

// inherit sets *field to a copy of the default's value when the pipeline
// left it unset (nil) and the defaults section set it.
func inherit[T any](field **T, def *T) {
	if *field == nil && def != nil {
		v := *def
		*field = &v
	}
}

// size decodes a byte size: a whole number of bytes, or a string such as
// 48MiB (see [ParseSize]).
func (d *decoder) size(path string, v any) (int64, error) {
	switch x := v.(type) {
	case int:
		if x >= 0 {
			return int64(x), nil
		}
	case int64:
		if x >= 0 {
			return x, nil
		}
	case float64:
		if x >= 0 && x == float64(int64(x)) {
			return int64(x), nil
		}
	case string:
		n, err := ParseSize(x)
		if err != nil {
			return 0, d.errf(path, "want a size such as 48MiB, got %q", x)
		}
		return n, nil
	}
	return 0, d.errf(path, "want a size such as 48MiB, got %s", typeName(v))
}

// rate decodes a byte rate: a whole number of bytes per second, or a
// string such as 10MiB or 10MiB/s (see [ParseRate]).
func (d *decoder) rate(path string, v any) (int64, error) {
	if str, ok := v.(string); ok {
		n, err := ParseRate(str)
		if err != nil {
			return 0, d.wrap(path, err)
		}
		return n, nil
	}
	n, err := d.size(path, v)
	if err != nil {
		return 0, err
	}
	if err := checkRate(n); err != nil {
		return 0, d.errf(path, "%v, got %d bytes", err, n)
	}
	return n, nil
}

// typeName names a decoded value's type the way a config author thinks of
// it, without showing the value (it could be secret).
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case int, int64, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case map[string]any, map[any]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}

// resolvePath expands a leading "~" and makes a relative path absolute
// against BaseDir.
func (d *decoder) resolvePath(p string) string {
	return ResolvePath(p, d.opts.BaseDir, d.opts.Home)
}

func (d *decoder) resolvePaths(v any) any {
	switch x := v.(type) {
	case string:
		return d.resolvePath(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			if s, ok := e.(string); ok {
				out[i] = d.resolvePath(s)
			} else {
				out[i] = e
			}
		}
		return out
	}
	return v
}

// HomeDir is the current user's home directory: $HOME, else the one the
// user database records. A system service has no $HOME unless its unit
// sets User= (systemd) or the environment does (cron sets it), and "~/"
// in its config must still mean the user's home, not a folder named "~".
// It is "" when neither says.
func HomeDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return home
	}
	if u, err := user.Current(); err == nil {
		return u.HomeDir
	}
	return ""
}

// ResolvePath expands a leading "~" or "~/" to home and makes a relative
// path absolute against base (the working directory when base is "").
// "~user" forms are left alone.
func ResolvePath(p, base, home string) string {
	switch {
	case p == "~" && home != "":
		return home
	case strings.HasPrefix(p, "~/") && home != "":
		return filepath.Join(home, p[2:])
	case p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "~"):
		return p
	}
	if base == "" {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	return filepath.Join(base, p)
}

// checkSecrets refuses secret material written into the config: what
// [LooksSecret] recognises (age, PEM and Fernet keys), as values or as
// keys, and under a key ending in _env a value that is not a variable
// name ([ValidEnvName]), which may be the secret itself. The value is
// never echoed.
func (d *decoder) checkSecrets(path string, v any) error {
	switch x := v.(type) {
	case string:
		key, _, _ := strings.Cut(path[strings.LastIndex(path, ".")+1:], "[")
		if kind := SecretKind(x); kind != "" {
			if strings.HasSuffix(key, "_file") {
				return d.wrap(path, fmt.Errorf("%w: this value looks like %s; give the path of a file holding it", ErrLiteralSecret, kind))
			}
			return d.wrap(path, fmt.Errorf("%w: this value looks like %s; keep keys in files or environment variables and refer to them (identity_file, recipients_file, passphrase_file, passphrase_env, key_file)", ErrLiteralSecret, kind))
		}
		if strings.HasSuffix(key, "_env") && x != "" && !ValidEnvName(x) {
			return d.errf(path, "%s", notEnvName(x))
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			// A key is echoed in every message about its value, so a
			// secret pasted as a key is refused before any of those.
			if kind := SecretKind(k); kind != "" {
				return d.wrap(path, fmt.Errorf("%w: a key here looks like %s; keep keys in files or environment variables and refer to them (identity_file, recipients_file, passphrase_file, passphrase_env, key_file)", ErrLiteralSecret, kind))
			}
			if err := d.checkSecrets(join(path, k), x[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := d.checkSecrets(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SourceExcluding returns the source for path, one of p.Sources. A
// directory is read with p.Exclude applied, then the patterns more. A file
// is read whole: exclude patterns match paths inside a directory, so one
// list can serve a pipeline (or the defaults section) mixing files and
// directories. Errors name the path, as [PathSource]'s do.
func (p *PipelineConfig) SourceExcluding(path string, more []string) (*Source, error) {
	return pathSource(path, append(slices.Clone(p.Exclude), more...), false)
}

// BuildStages builds the pipeline's stage chain for its backups. Stages
// read every key file and variable they refer to now, so a missing
// recipients file or an unset passphrase variable fails here, before
// anything is read or written; so does a stage that could not encode (see
// [CheckEncode]), such as an encryption stage with no one to encrypt to,
// whose error wraps [ErrNoRecipient]. Errors are [*ConfigError]s naming
// the stage entry.
func (p *PipelineConfig) BuildStages() ([]ChainStage, error) {
	chain := make([]ChainStage, 0, len(p.Stages))
	for _, s := range p.Stages {
		st, err := s.Spec.New(s.Options)
		if err == nil {
			err = CheckEncode(st)
		}
		if err != nil {
			return nil, &ConfigError{Path: s.Path + "." + s.Spec.Name, From: s.From, Err: err}
		}
		chain = append(chain, ChainStage{Spec: s.Spec, Stage: st})
	}
	return chain, nil
}
