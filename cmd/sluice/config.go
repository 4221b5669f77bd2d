package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

// configHelp is the long help of `sluice config`; README.md has the same
// rules with examples.
const configHelp = `The config file declares pipelines (see README.md, "Declared pipelines: the config file").

Where it is read from: --config FILE (or SLUICE_CONFIG), else ./sluice.yaml,
else $XDG_CONFIG_HOME/sluice/config.yaml (~/.config/sluice/config.yaml when
XDG_CONFIG_HOME is unset). YAML, TOML or JSON, by the file's extension.

Precedence, highest first: flags of sluice run (-o STAGE.OPTION=VALUE) >
environment > the pipeline's entry in the file > the defaults section >
built-in defaults. Every key has an environment variable: SLUICE_ + its key
path in capitals with "_", the pipeline name in capitals with every
character other than a letter or digit as "_":

  SLUICE_PIPELINES_DB_PROD_TARGETS=file:///a,file:///b   (pipeline db-prod)
  SLUICE_PIPELINES_PHOTOS_RETENTION_KEEP_DAILY=30
  SLUICE_PIPELINES_PHOTOS_STAGES_AGE_RECIPIENTS_FILE=/etc/sluice/rcpt.txt
  SLUICE_DEFAULTS_NAME={pipeline}-{time}

Lists are comma-separated. Keys and pipeline names are case-insensitive
(written lower case); two keys of one mapping that differ only in case are
an error, as is a key given twice. Relative paths in the file resolve
against the file's folder; ~ is the home directory.`

// findConfig returns the config file to read: --config, else the first
// of ./sluice.yaml and $XDG_CONFIG_HOME/sluice/config.yaml that exists. It
// returns the places it looked when there is none.
func findConfig(g *globalFlags) (string, error) {
	if g.config != "" {
		// Named as the flag, so that a value from SLUICE_CONFIG is
		// blamed on the variable (blameEnv).
		if _, err := os.Stat(g.config); errors.Is(err, fs.ErrNotExist) {
			return "", usageErrorf("--config %s: no such file", g.config)
		}
		return g.config, nil
	}
	xdg := os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home := pipeline.HomeDir(); home != "" {
			xdg = filepath.Join(home, ".config")
		}
	}
	candidates := []string{"sluice.yaml"}
	if xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "sluice", "config.yaml"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", usageErrorf("no config file: give --config FILE or create %s", strings.Join(candidates, " or "))
}

// rawOverride changes a raw config document after the environment is
// applied, as the flags of `sluice run` do; it records origins.
type rawOverride func(raw map[string]any, origins map[string]string) error

// loadConfig reads the config file with viper, applies the environment and
// override, and decodes it strictly. Every error is a usage error (exit 2).
func loadConfig(e *env, g *globalFlags, override rawOverride) (*pipeline.Config, string, error) {
	path, err := findConfig(g)
	if err != nil {
		return nil, "", err
	}
	raw, err := readConfigFile(path)
	if err != nil {
		return nil, path, usageError(err)
	}
	origins, err := pipeline.ApplyEnv(e.reg(), raw, os.Environ())
	if err != nil {
		return nil, path, usageErrorf("config %s: %w", path, err)
	}
	if override != nil {
		if err := override(raw, origins); err != nil {
			return nil, path, usageError(err)
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, path, usageErrorf("config %s: %w", path, err)
	}
	cfg, err := pipeline.DecodeConfig(e.reg(), raw, pipeline.DecodeOptions{
		BaseDir: filepath.Dir(abs), Origins: origins,
		CheckTarget: func(url string, options map[string]any) (string, error) {
			return backends.TargetPlace(e.reg(), url, options)
		},
	})
	if err != nil {
		return nil, path, usageErrorf("config %s: %w", path, err)
	}
	return cfg, path, nil
}

// readConfigFile reads a YAML, TOML or JSON file (by extension) into a
// generic map. Keys come back lower case: that is how viper reads them.
// "::" as viper's key delimiter keeps keys with dots (pipeline names such
// as "db.prod") whole.
//
// Since viper would merge keys that differ only in case, and JSON's
// decoder keeps the last of two equal keys, such keys are errors that name
// them and the path of the mapping holding them (see checkKeys).
func readConfigFile(path string) (map[string]any, error) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	switch ext {
	case "yaml", "yml", "toml", "json":
	default:
		return nil, fmt.Errorf("config %s: unknown format %q: name the file .yaml, .yml, .toml or .json", path, ext)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config %s: no such file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Parsed here first, with the format's own parser (viper's), so that
	// a syntax error names its line and column, which viper's does not
	// for TOML and JSON.
	doc, err := parseDocument(ext, data)
	if err != nil {
		return nil, fmt.Errorf("config %s%w", path, err)
	}
	// viper reads the same bytes, not the file a second time.
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetConfigType(ext)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := checkKeys(ext, data, doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	raw := v.AllSettings()
	restoreEmpty(raw, doc)
	return raw, nil
}

// parseDocument decodes data, a document in format ext, as the format's
// own parser does. An error starts with ":LINE:COLUMN: " (":LINE: " for
// YAML, whose parser names the line in its message) or ": ", to follow
// the file name.
func parseDocument(ext string, data []byte) (map[string]any, error) {
	var doc map[string]any
	var err error
	switch ext {
	case "json":
		err = json.Unmarshal(data, &doc)
	case "toml":
		err = toml.Unmarshal(data, &doc)
	default:
		err = yaml.Unmarshal(data, &doc)
	}
	if err == nil {
		return doc, nil
	}
	var (
		tomlErr   *toml.DecodeError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tomlErr):
		line, col := tomlErr.Position()
		return nil, fmt.Errorf(":%d:%d: %w", line, col, err)
	case errors.As(err, &syntaxErr):
		line, col := lineColumn(data, syntaxErr.Offset)
		return nil, fmt.Errorf(":%d:%d: %w", line, col, err)
	case errors.As(err, &typeErr):
		// Only the whole document is decoded into a type.
		line, col := lineColumn(data, typeErr.Offset)
		return nil, fmt.Errorf(":%d:%d: the document must be an object (of defaults and pipelines), not a JSON %s", line, col, typeErr.Value)
	}
	return nil, fmt.Errorf(": %w", err)
}

// lineColumn turns offset, the number of bytes of data read when an
// error was found (so the offending byte is the last of them), into a
// line and a column, both counted from 1; the column counts bytes.
func lineColumn(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 1), int64(len(data)))
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	// At the end of an empty document or of a line, the error is at its
	// first column.
	col = max(int(offset)-bytes.LastIndexByte(before, '\n')-1, 1)
	return line, col
}

// restoreEmpty puts back into settings, viper's AllSettings of doc, the
// keys viper leaves out: those whose value is null or a mapping without
// a leaf (`retention: {}`, a pipeline whose keys are all commented out).
// Left out, such a key would read as never written: an empty retention
// would inherit the defaults' policy, an empty pipeline would vanish.
// Kept, the decoder judges them as written. Keys are lower-cased, as
// viper gives them.
func restoreEmpty(settings, doc map[string]any) {
	for k, v := range doc {
		lk := strings.ToLower(k)
		have, ok := settings[lk]
		if !ok {
			switch v.(type) {
			case nil, map[string]any, map[any]any:
				settings[lk] = lowerKeys(v)
			}
			continue
		}
		hm, ok1 := have.(map[string]any)
		dm, ok2 := asStringMap(v)
		if ok1 && ok2 {
			restoreEmpty(hm, dm)
		}
	}
}

// lowerKeys copies v with the keys of its mappings lower-cased.
func lowerKeys(v any) any {
	m, ok := asStringMap(v)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[strings.ToLower(k)] = lowerKeys(e)
	}
	return out
}

// asStringMap returns v as a map with string keys, if it is a mapping.
func asStringMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case map[any]any: // YAML with keys that are not all strings
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		return m, true
	}
	return nil, false
}

func newConfigCmd(e *env, g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config validate|show",
		Short: "Check the config file, or print the effective config",
		Long:  configHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("config: want a subcommand: validate or show")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("config: want a subcommand: validate or show")
		},
	}
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Decode the config strictly and build every pipeline's stages (reads key files, opens no target)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := loadConfig(e, g, nil)
			if err != nil {
				return err
			}
			warnLooseConfigKeys(e, cfg, cfg.Names(), nil, false)
			for _, name := range cfg.Names() {
				if _, err := cfg.Pipelines[name].BuildStages(); err != nil {
					return usageErrorf("config %s: %w", path, err)
				}
				if _, err := pipelineExcludes(cfg.Pipelines[name]); err != nil {
					return usageErrorf("config %s: %w", path, err)
				}
			}
			fmt.Fprintf(e.stderr, "config %s: %d pipelines OK (%s)\n", path, len(cfg.Pipelines), strings.Join(cfg.Names(), ", "))
			return nil
		},
	}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective config (after defaults and environment), secrets redacted",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := loadConfig(e, g, nil)
			if err != nil {
				return err
			}
			doc := showConfig(cfg)
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			b, err := yaml.Marshal(doc)
			if err != nil {
				return fmt.Errorf("config show: %w", err)
			}
			_, err = e.stdout.Write(b)
			return err
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of YAML")
	cmd.AddCommand(validate, show)
	return cmd
}

// showConfig is the effective config in the documented form, with URL
// credentials and anything that looks secret redacted.
func showConfig(cfg *pipeline.Config) map[string]any {
	pipes := map[string]any{}
	for _, name := range cfg.Names() {
		p := cfg.Pipelines[name]
		m := map[string]any{
			"sources": p.Sources,
			"name":    p.NameTemplate,
		}
		if len(p.Exclude) > 0 {
			m["exclude"] = p.Exclude
		}
		stages := []any{}
		for _, s := range p.Stages {
			opts := map[string]any{}
			for k, v := range s.Options.Values() {
				opts[k] = showValue(k, v)
			}
			stages = append(stages, map[string]any{s.Spec.Name: opts})
		}
		m["stages"] = stages
		targets := []any{}
		for _, t := range p.Targets {
			if len(t.Options) == 0 {
				targets = append(targets, backends.Redact(t.URL))
				continue
			}
			tm := map[string]any{"url": backends.Redact(t.URL)}
			for k, v := range t.Options {
				if s, ok := v.(string); ok {
					// Hidden as in the URL's query.
					v = backends.RedactOption(k, s)
				}
				tm[k] = showValue(k, v)
			}
			targets = append(targets, tm)
		}
		m["targets"] = targets
		// An empty policy is shown as {}: it replaces the defaults'.
		if r := p.Retention; r != nil {
			rm := map[string]any{}
			for k, n := range map[string]int{"keep_last": r.Last, "keep_hourly": r.Hourly, "keep_daily": r.Daily,
				"keep_weekly": r.Weekly, "keep_monthly": r.Monthly, "keep_yearly": r.Yearly} {
				if n != 0 {
					rm[k] = n
				}
			}
			if !r.Within.IsZero() {
				rm["keep_within"] = r.Within.String()
			}
			m["retention"] = rm
		}
		if p.AllowPlaintext != nil && *p.AllowPlaintext {
			m["allow_plaintext"] = true
		}
		if p.AllOrNothing != nil && *p.AllOrNothing {
			m["all_or_nothing"] = true
		}
		if p.AllowChangingFiles != nil && *p.AllowChangingFiles {
			m["allow_changing_files"] = true
		}
		if p.StallTimeout != nil {
			m["stall_timeout"] = p.StallTimeout.String()
		}
		if p.UploadMemory != nil {
			m["upload_memory"] = *p.UploadMemory
		}
		if p.BWLimit != nil {
			m["bwlimit"] = *p.BWLimit
		}
		if p.BWLimitTarget != nil {
			m["bwlimit_target"] = *p.BWLimitTarget
		}
		pipes[name] = m
	}
	return redactSecrets(map[string]any{"pipelines": pipes}).(map[string]any)
}

// redactSecrets replaces every string in doc that looks like a key
// ([pipeline.LooksSecret]) with REDACTED, whatever key it sits under, so
// that no value config show prints can carry one. The decoder refuses
// such values already; this holds even for what it does not see (values
// assembled after decoding, such as resolved paths).
func redactSecrets(doc any) any {
	switch x := doc.(type) {
	case string:
		if pipeline.LooksSecret(x) {
			return "REDACTED"
		}
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = redactSecrets(s).(string)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactSecrets(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			out[k] = redactSecrets(v)
		}
		return out
	}
	return doc
}

// showValue is an option value as config show prints it: with its type
// (a number stays a number, a list a list) so that the output reads back
// as the same config, and each string passed through redactValue.
func showValue(key string, v any) any {
	switch x := v.(type) {
	case string:
		return redactValue(key, x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = redactValue(key, s)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = showValue(key, e)
		}
		return out
	case int, int64, float64, bool:
		return x
	}
	return redactValue(key, fmt.Sprint(v))
}

// redactValue hides a value that looks like a secret, or whose key says it
// is one and which is not a reference (a file or a variable name). A value
// that looks like a URL (an S3 endpoint) loses what [backends.Redact]
// hides: userinfo and secret query values.
func redactValue(key, v string) string {
	if pipeline.LooksSecret(v) {
		return "REDACTED"
	}
	if strings.Contains(v, "://") {
		v = backends.Redact(v)
	}
	k := strings.ToLower(key)
	isRef := strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "_env")
	if !isRef && (strings.Contains(k, "secret") || strings.Contains(k, "password") || strings.Contains(k, "token") || k == "key" || strings.HasSuffix(k, "_key")) {
		return "REDACTED"
	}
	return v
}
