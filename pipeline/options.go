package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OptionType is the type of an option's value.
type OptionType int

// The option types a plugin can declare.
const (
	String OptionType = iota
	Int
	Bool
	List // a list of strings; a single string is a list of one
	Duration
)

// String returns the type's name as shown in help and errors.
func (t OptionType) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "int"
	case Bool:
		return "bool"
	case List:
		return "list"
	case Duration:
		return "duration"
	}
	return "OptionType(" + strconv.Itoa(int(t)) + ")"
}

// OptionSpec describes one option of a plugin as data, so that help text,
// flags, environment names, `sluice plugins` and validation all come from one
// description.
type OptionSpec struct {
	// Name is the option's key in config files, lower_snake_case.
	Name string
	// Help is one line shown in `sluice plugins` and --help.
	Help string
	// Type is the type of the value.
	Type OptionType
	// Default is the value used when the option is not given, in the same
	// textual form a user would write. Empty means no default.
	Default string
	// Secret marks an option that refers to secret material: its value is a
	// reference (a file name, an environment variable name), never the
	// secret itself. The reference may be shown; what it points to never is.
	Secret bool
	// Required options must be given (or have a default).
	Required bool
	// Locates marks a backend option that is part of where the target's
	// objects are, not of how they are written: an endpoint, a region, a
	// profile. Printed target and object URLs carry the options that have
	// it (see [Target.URL]), so that such a URL given back to sluice
	// reaches the same objects; write-only settings (part sizes, storage
	// class, encryption, tags) are left out. A Secret option never locates.
	Locates bool
}

// ErrUnknownOption is wrapped by errors about option keys no plugin declares.
var ErrUnknownOption = errors.New("unknown option")

// Options holds the validated, typed option values of one plugin instance.
// It is built only by [ParseOptions], so every getter can trust its input.
type Options struct {
	specs  []OptionSpec
	values map[string]any // string, int, bool, []string or time.Duration
}

// ParseOptions validates raw values against specs and converts them to their
// declared types. Raw values come from config files (strings, numbers,
// booleans, lists) or from flags and environment variables (strings;
// lists comma-separated). Unknown keys, wrong types and missing required
// options are errors naming the key and, for unknown keys, the known ones.
func ParseOptions(specs []OptionSpec, raw map[string]any) (Options, error) {
	o := Options{specs: specs, values: make(map[string]any, len(specs))}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		spec, ok := findSpec(specs, k)
		if !ok {
			return Options{}, fmt.Errorf("%s: %w (known: %s)", k, ErrUnknownOption, knownNames(specs))
		}
		v, err := convert(spec, raw[k])
		if err != nil {
			return Options{}, fmt.Errorf("%s: %w", k, err)
		}
		o.values[k] = v
	}
	for _, spec := range specs {
		if _, ok := o.values[spec.Name]; ok {
			continue
		}
		if spec.Default != "" {
			v, err := convert(spec, spec.Default)
			if err != nil {
				panic(fmt.Sprintf("pipeline: option %q: bad default: %v", spec.Name, err))
			}
			o.values[spec.Name] = v
			continue
		}
		if spec.Required {
			return Options{}, fmt.Errorf("%s: required option missing", spec.Name)
		}
	}
	return o, nil
}

func findSpec(specs []OptionSpec, name string) (OptionSpec, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s, true
		}
	}
	return OptionSpec{}, false
}

func knownNames(specs []OptionSpec) string {
	if len(specs) == 0 {
		return "none"
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func convert(spec OptionSpec, v any) (any, error) {
	switch spec.Type {
	case String:
		switch x := v.(type) {
		case string:
			return x, nil
		case int, int64, float64, bool:
			return fmt.Sprint(x), nil
		}
	case Int:
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case float64:
			if x == float64(int(x)) {
				return int(x), nil
			}
		case string:
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err == nil {
				return n, nil
			}
			return nil, fmt.Errorf("want an integer, got %q", x)
		}
	case Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err == nil {
				return b, nil
			}
			return nil, fmt.Errorf("want true or false, got %q", x)
		}
	case List:
		switch x := v.(type) {
		case string:
			return splitList(x), nil
		case []string:
			return slices.Clone(x), nil
		case []any:
			out := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want a list of strings, got an element that is %s", describe(e, spec.Secret))
				}
				out = append(out, s)
			}
			return out, nil
		}
	case Duration:
		switch x := v.(type) {
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(x))
			if err == nil {
				return d, nil
			}
			return nil, fmt.Errorf("want a duration such as 90s or 2h, got %q", x)
		case time.Duration:
			return x, nil
		}
	}
	return nil, fmt.Errorf("want %s, got %s", spec.Type.want(), describe(v, spec.Secret))
}

// want says, for an error message, what a value of type t looks like.
func (t OptionType) want() string {
	switch t {
	case Int:
		return "an integer"
	case Bool:
		return "true or false"
	case List:
		return "a list of strings"
	case Duration:
		return "a duration such as 90s or 2h"
	}
	return "a " + t.String()
}

// describe names a value for an error message without revealing secrets:
// its kind, and for a string, number or boolean that is not secret, the
// value itself.
func describe(v any, secret bool) string {
	switch x := v.(type) {
	case string:
		if !secret {
			return strconv.Quote(x)
		}
	case int, int64, float64, bool:
		if !secret {
			return fmt.Sprintf("%s %v", typeName(v), x)
		}
	}
	return typeName(v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Has reports whether the option was given or has a default.
func (o Options) Has(name string) bool {
	_, ok := o.values[o.mustSpec(name).Name]
	return ok
}

// String returns a String option's value, or "" when unset.
func (o Options) String(name string) string {
	v, _ := o.get(name, String).(string)
	return v
}

// Int returns an Int option's value, or 0 when unset.
func (o Options) Int(name string) int {
	v, _ := o.get(name, Int).(int)
	return v
}

// Bool returns a Bool option's value, or false when unset.
func (o Options) Bool(name string) bool {
	v, _ := o.get(name, Bool).(bool)
	return v
}

// List returns a List option's values, or nil when unset.
func (o Options) List(name string) []string {
	v, _ := o.get(name, List).([]string)
	return slices.Clone(v)
}

// Duration returns a Duration option's value, or 0 when unset.
func (o Options) Duration(name string) time.Duration {
	v, _ := o.get(name, Duration).(time.Duration)
	return v
}

func (o Options) get(name string, t OptionType) any {
	spec := o.mustSpec(name)
	if spec.Type != t {
		panic(fmt.Sprintf("pipeline: option %q is a %s, read as %s", name, spec.Type, t))
	}
	return o.values[name]
}

func (o Options) mustSpec(name string) OptionSpec {
	spec, ok := findSpec(o.specs, name)
	if !ok {
		panic(fmt.Sprintf("pipeline: option %q is not declared", name))
	}
	return spec
}

// Values returns the options with their types, in a form [ParseOptions]
// accepts back (string, int, bool, []string; a duration as its string),
// for `config show`. Unset options are omitted; lists are copies.
func (o Options) Values() map[string]any {
	out := make(map[string]any, len(o.values))
	for _, spec := range o.specs {
		switch v := o.values[spec.Name].(type) {
		case nil:
		case []string:
			out[spec.Name] = slices.Clone(v)
		case time.Duration:
			out[spec.Name] = v.String()
		default:
			out[spec.Name] = v
		}
	}
	return out
}

// Display returns the options as display strings, for `config show` and
// logs. Unset options are omitted. Secret options hold only references, so
// they are shown as given.
func (o Options) Display() map[string]string {
	out := make(map[string]string, len(o.values))
	for _, spec := range o.specs {
		v, ok := o.values[spec.Name]
		if !ok {
			continue
		}
		if l, ok := v.([]string); ok {
			out[spec.Name] = strings.Join(l, ",")
			continue
		}
		out[spec.Name] = fmt.Sprint(v)
	}
	return out
}
