package pipeline

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// BackendSpec registers a storage backend under a URL scheme.
type BackendSpec struct {
	// Scheme is the URL scheme, without "://".
	Scheme string
	// Help is a one-line description for `sluice plugins`.
	Help string
	// Options are the target options sluice handles itself; they may be
	// given as URL query parameters or, in config files, as target keys.
	// Query parameters not listed here pass through to the gocloud opener.
	Options []OptionSpec
	// Check, if set, validates what Open would get — the URL's form and
	// the options' values — without any I/O, so that a config can be
	// checked before anything runs. Its errors are the user's to fix;
	// Open is only called once Check passed. u and opts are as for Open.
	Check func(u *url.URL, opts Options) error
	// Open opens the location. u is the target URL with sluice's own
	// options already removed from its query; opts holds them. Its
	// errors come from the store or the environment: a missing bucket,
	// a folder that cannot be created, refused credentials.
	Open func(ctx context.Context, u *url.URL, opts Options) (*Target, error)
	// OpenExisting, if set, opens the location for reading only (list,
	// verify, prune, restore), creating nothing: a location Open would
	// create later is an error here. Nil means Open serves both.
	OpenExisting func(ctx context.Context, u *url.URL, opts Options) (*Target, error)
}

// Registry maps names to stage and backend specs. The zero value is ready to
// use. [Default] is the process-wide registry that plugins add themselves to
// from init; tests build their own with [NewRegistry].
type Registry struct {
	mu       sync.RWMutex
	stages   map[string]StageSpec
	backends map[string]BackendSpec
}

// Default is the registry plugins register with in init.
var Default = &Registry{}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// RegisterStage adds a stage. It panics on a duplicate or malformed name,
// a missing constructor or a bad option default: those are programmer
// errors caught at startup.
func (r *Registry) RegisterStage(spec StageSpec) {
	if !nameRE.MatchString(spec.Name) {
		panic(fmt.Sprintf("pipeline: bad stage name %q", spec.Name))
	}
	if spec.New == nil {
		panic(fmt.Sprintf("pipeline: stage %q has no constructor", spec.Name))
	}
	if spec.Kind != Compression && spec.Kind != Encryption {
		panic(fmt.Sprintf("pipeline: stage %q has bad kind %q", spec.Name, spec.Kind))
	}
	checkSpecs("stage "+spec.Name, spec.Options)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.stages[spec.Name]; dup {
		panic(fmt.Sprintf("pipeline: stage %q registered twice", spec.Name))
	}
	if r.stages == nil {
		r.stages = make(map[string]StageSpec)
	}
	r.stages[spec.Name] = spec
}

// RegisterBackend adds a backend. It panics on a duplicate scheme.
func (r *Registry) RegisterBackend(spec BackendSpec) {
	if !nameRE.MatchString(spec.Scheme) || spec.Open == nil {
		panic(fmt.Sprintf("pipeline: bad backend %q", spec.Scheme))
	}
	checkSpecs("backend "+spec.Scheme, spec.Options)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.backends[spec.Scheme]; dup {
		panic(fmt.Sprintf("pipeline: backend %q registered twice", spec.Scheme))
	}
	if r.backends == nil {
		r.backends = make(map[string]BackendSpec)
	}
	r.backends[spec.Scheme] = spec
}

func checkSpecs(owner string, specs []OptionSpec) {
	seen := map[string]bool{}
	for _, s := range specs {
		if !nameRE.MatchString(s.Name) || seen[s.Name] {
			panic(fmt.Sprintf("pipeline: %s: bad or duplicate option %q", owner, s.Name))
		}
		seen[s.Name] = true
		if s.Default != "" {
			if _, err := convert(s, s.Default); err != nil {
				panic(fmt.Sprintf("pipeline: %s: option %q: bad default: %v", owner, s.Name, err))
			}
		}
	}
}

// Stage returns the spec registered under name, or an error wrapping
// [ErrUnknownStage] that lists the known stages.
func (r *Registry) Stage(name string) (StageSpec, error) {
	r.mu.RLock()
	spec, ok := r.stages[name]
	r.mu.RUnlock()
	if !ok {
		return StageSpec{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownStage, name, strings.Join(r.stageNames(), ", "))
	}
	return spec, nil
}

// Backend returns the spec registered for scheme, or an error wrapping
// [ErrUnknownScheme] that lists the known schemes.
func (r *Registry) Backend(scheme string) (BackendSpec, error) {
	r.mu.RLock()
	spec, ok := r.backends[scheme]
	r.mu.RUnlock()
	if !ok {
		names := make([]string, 0, len(r.backends))
		for _, b := range r.Backends() {
			names = append(names, b.Scheme+"://")
		}
		return BackendSpec{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownScheme, scheme+"://", strings.Join(names, ", "))
	}
	return spec, nil
}

// NewStage builds the named stage from raw option values (see
// [ParseOptions]). Errors name the stage.
func (r *Registry) NewStage(name string, raw map[string]any) (Stage, error) {
	spec, err := r.Stage(name)
	if err != nil {
		return nil, err
	}
	opts, err := ParseOptions(spec.Options, raw)
	if err != nil {
		return nil, fmt.Errorf("stage %q: %w", name, err)
	}
	st, err := spec.New(opts)
	if err != nil {
		return nil, fmt.Errorf("stage %q: %w", name, err)
	}
	return st, nil
}

// Stages returns every registered stage spec, sorted by name.
func (r *Registry) Stages() []StageSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]StageSpec, 0, len(r.stages))
	for _, s := range r.stages {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Backends returns every registered backend spec, sorted by scheme.
func (r *Registry) Backends() []BackendSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]BackendSpec, 0, len(r.backends))
	for _, b := range r.backends {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scheme < out[j].Scheme })
	return out
}

func (r *Registry) stageNames() []string {
	specs := r.Stages()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// Detect returns the stage whose encoding header starts with, if any.
func (r *Registry) Detect(header []byte) (StageSpec, bool) {
	for _, s := range r.Stages() {
		if s.Detect != nil && s.Detect(header) {
			return s, true
		}
	}
	return StageSpec{}, false
}

// StageByExtension returns the stage whose extension is ext (".zst").
func (r *Registry) StageByExtension(ext string) (StageSpec, bool) {
	for _, s := range r.Stages() {
		if s.Extension != "" && s.Extension == ext {
			return s, true
		}
	}
	return StageSpec{}, false
}
