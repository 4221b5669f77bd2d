package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// EnvPrefix starts every environment variable that overrides the config.
const EnvPrefix = "SLUICE_"

// ApplyEnv overrides values of a raw config document (before
// [DecodeConfig]) from environment variables, given as "KEY=value" strings
// like os.Environ's. Every key has a variable: SLUICE_ + its key path in
// capitals with "_" between the parts, the pipeline name written as
// [EnvName] gives it:
//
//	SLUICE_PIPELINES_<NAME>_SOURCE, _SOURCES, _EXCLUDE, _NAME, _TARGETS,
//	_STAGES, _ALLOW_PLAINTEXT, _ALL_OR_NOTHING, _STALL_TIMEOUT,
//	_RETENTION_KEEP_LAST (and the other keep_*),
//	_STAGES_<STAGE>_<OPTION>   (an option of a stage the pipeline uses)
//	SLUICE_DEFAULTS_<KEY>      the same keys in the defaults section
//
// Lists take comma-separated values (SLUICE_PIPELINES_DB_TARGETS=
// file:///a,file:///b); a targets or stages list from the environment
// replaces the file's (stages then have no options until _STAGES_<STAGE>_
// variables give some). A _RETENTION_ variable changes one key of the
// pipeline's retention, which is a copy of the defaults' when the
// pipeline has none of its own. Only pipelines the file declares can be
// overridden. A SLUICE_PIPELINES_ or SLUICE_DEFAULTS_ variable that matches
// no key is an error, so a typo is not silently ignored.
//
// It returns where each overridden value came from, by key path, for
// [DecodeOptions.Origins].
func ApplyEnv(reg *Registry, raw map[string]any, environ []string) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && (strings.HasPrefix(k, EnvPrefix+"PIPELINES_") || strings.HasPrefix(k, EnvPrefix+"DEFAULTS_")) {
			env[k] = v
		}
	}
	origins := map[string]string{}
	if len(env) == 0 {
		return origins, nil
	}
	used := map[string]bool{}
	sections := []struct{ path, prefix string }{{"defaults", EnvPrefix + "DEFAULTS_"}}
	if pm, ok := raw["pipelines"].(map[string]any); ok {
		for _, name := range sortedKeys(pm) {
			sections = append(sections, struct{ path, prefix string }{"pipelines." + name, EnvPrefix + "PIPELINES_" + EnvName(name) + "_"})
		}
	}
	for _, s := range sections {
		sec, err := sectionMap(raw, s.path, false)
		if err != nil {
			return nil, err
		}
		set := func(key string, v any) error {
			if sec == nil {
				if sec, err = sectionMap(raw, s.path, true); err != nil {
					return err
				}
			}
			sec[key] = v
			return nil
		}
		for _, key := range sectionKeys {
			if key == "retention" {
				continue
			}
			name := s.prefix + strings.ToUpper(key)
			v, ok := env[name]
			if !ok {
				continue
			}
			if err := markUsed(used, name); err != nil {
				return nil, err
			}
			origins[s.path+"."+key] = name
			var val any = v
			switch key {
			case "sources", "exclude", "targets", "stages":
				val = listAny(splitList(v))
			}
			if err := set(key, val); err != nil {
				return nil, err
			}
		}
		for _, key := range retentionKeys {
			name := s.prefix + "RETENTION_" + strings.ToUpper(key)
			v, ok := env[name]
			if !ok {
				continue
			}
			if err := markUsed(used, name); err != nil {
				return nil, err
			}
			path := s.path + ".retention." + key
			origins[path] = name
			if sec == nil {
				if sec, err = sectionMap(raw, s.path, true); err != nil {
					return nil, err
				}
			}
			r, ok := sec["retention"].(map[string]any)
			if !ok {
				// A pipeline without its own retention inherits the
				// defaults' whole: the variable changes one key of a copy
				// of it, as it would of the pipeline's own.
				r = map[string]any{}
				if def, _ := raw["defaults"].(map[string]any); s.path != "defaults" && !hasKey(sec, "retention") {
					if dr, ok := def["retention"].(map[string]any); ok {
						r = deepCopy(dr).(map[string]any)
					}
				}
				sec["retention"] = r
			}
			r[key] = v
		}
		for _, spec := range reg.Stages() {
			for _, opt := range spec.Options {
				name := s.prefix + "STAGES_" + EnvName(spec.Name) + "_" + strings.ToUpper(opt.Name)
				v, ok := env[name]
				if !ok {
					continue
				}
				if err := markUsed(used, name); err != nil {
					return nil, err
				}
				path, err := setStageOption(raw, s.path, spec.Name, opt.Name, v)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				origins[path] = name
			}
		}
	}
	var unused []string
	for k := range env {
		if !used[k] {
			if LooksSecret(k) {
				// The message names the variable: not one like this.
				k = EnvPrefix + "… (a name that looks like a private key)"
			}
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, &ConfigError{Path: "environment", Err: fmt.Errorf("%s: %w: it names no pipeline the config declares, or no key (see sluice help config)", strings.Join(unused, ", "), ErrUnknownKey)}
	}
	return origins, nil
}

// markUsed records that variable name matched a key; a variable two
// pipelines' names could both explain is an error rather than a guess.
func markUsed(used map[string]bool, name string) error {
	if used[name] {
		return &ConfigError{Path: "environment", Err: fmt.Errorf("%s is ambiguous: it matches keys of two pipelines; rename one of them", name)}
	}
	used[name] = true
	return nil
}

// sectionMap returns the map at path ("defaults" or "pipelines.NAME") in
// raw, creating it when create is set. It returns nil when the section is
// absent and create is not set.
func sectionMap(raw map[string]any, path string, create bool) (map[string]any, error) {
	parent, key := raw, "defaults"
	if path != "defaults" {
		parent, key = raw["pipelines"].(map[string]any), strings.TrimPrefix(path, "pipelines.")
	}
	switch m := parent[key].(type) {
	case map[string]any:
		return m, nil
	case nil:
		if !create {
			return nil, nil
		}
		nm := map[string]any{}
		parent[key] = nm
		return nm, nil
	}
	return nil, &ConfigError{Path: path, Err: fmt.Errorf("want a map, got %s", typeName(parent[key]))}
}

// SetStageOption sets option key of stage in the section at path
// ("defaults" or "pipelines.NAME") of a raw config document, as the
// environment and the -o flag of `sluice run` do. A pipeline that takes
// its stages from the defaults section gets its own copy of them first,
// so the change stays with that pipeline. It returns the key path set.
func SetStageOption(raw map[string]any, path, stage, key string, value any) (string, error) {
	return setStageOption(raw, path, stage, key, value)
}

func setStageOption(raw map[string]any, path, stage, key string, value any) (string, error) {
	sec, err := sectionMap(raw, path, false)
	if err != nil {
		return "", err
	}
	var list []any
	if sec != nil {
		list, _ = sec["stages"].([]any)
	}
	if list == nil && path != "defaults" {
		// Inherit the defaults' stages, copied.
		def, _ := raw["defaults"].(map[string]any)
		if dl, ok := def["stages"].([]any); ok {
			list = deepCopyList(dl)
			if sec == nil {
				if sec, err = sectionMap(raw, path, true); err != nil {
					return "", err
				}
			}
			sec["stages"] = list
		}
	}
	for i, e := range list {
		switch x := e.(type) {
		case string:
			if x == stage {
				list[i] = map[string]any{stage: map[string]any{key: value}}
				return fmt.Sprintf("%s.stages[%d].%s.%s", path, i, stage, key), nil
			}
		case map[string]any:
			opts, ok := x[stage]
			if !ok || len(x) != 1 {
				continue
			}
			m, ok := opts.(map[string]any)
			if !ok {
				m = map[string]any{}
				x[stage] = m
			}
			m[key] = value
			return fmt.Sprintf("%s.stages[%d].%s.%s", path, i, stage, key), nil
		}
	}
	return "", fmt.Errorf("%s uses no %s stage", path, stage)
}

func listAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func deepCopyList(l []any) []any {
	out := make([]any, len(l))
	for i, e := range l {
		out[i] = deepCopy(e)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		return deepCopyList(x)
	}
	return v
}

// hasKey reports whether m has key k, even with a null value.
func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}
