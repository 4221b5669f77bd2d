package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sluice-backup/sluice/pipeline"
)

// keyFlags are the key-related flags shared by backup, restore and verify.
// Each maps onto one option of a registered stage, so the stage's own
// option record validates it.
type keyFlags struct {
	recipients      []string
	recipientsFiles []string
	identities      []string
	passphraseEnv   string
	passphraseFile  string
	fernetKey       string
	options         []string // STAGE.OPTION=VALUE

	fs *pflag.FlagSet // the flags above, to tell typed values from the environment's
	// extra are options other flags give (--compress zstd:LEVEL,
	// --workers); they come first in messages.
	extra []optionSetting
}

func (k *keyFlags) addEncrypt(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&k.recipients, "recipient", "r", nil, "age recipient to encrypt to: age1…, age1pq1… or an SSH public key (repeatable)")
	fs.StringArrayVarP(&k.recipientsFiles, "recipients-file", "R", nil, "file of age recipients, one per line (repeatable)")
	k.addCommon(fs)
}

func (k *keyFlags) addDecrypt(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&k.identities, "identity", "i", nil, "age identity file or SSH private key to decrypt with (repeatable)")
	k.addCommon(fs)
}

func (k *keyFlags) addCommon(fs *pflag.FlagSet) {
	k.fs = fs
	fs.StringVar(&k.passphraseEnv, "passphrase-env", "", "name of the environment variable holding the age passphrase")
	fs.StringVar(&k.passphraseFile, "passphrase-file", "", "file holding the age passphrase")
	fs.StringVar(&k.fernetKey, "fernet-key", "", "key file in Python cryptography's Fernet format")
	fs.StringArrayVarP(&k.options, "option", "o", nil, "stage option as STAGE.OPTION=VALUE, e.g. zstd.concurrency=2 (repeatable; a list option such as age.recipient adds to the key flags; see sluice plugins)")
}

// flagEnv names the environment variable that set flag name (see
// applyEnv), or "" when the flag was typed or not given at all.
func (k *keyFlags) flagEnv(name string) string {
	if k.fs == nil {
		return ""
	}
	return flagEnvOf(k.fs.Lookup(name))
}

// setting returns the option setting flag gives, described for messages
// as the flag with its value, or as the variable that set it.
func (k *keyFlags) setting(flag, stage, key string, values ...string) optionSetting {
	s := optionSetting{stage: stage, key: key, values: values, name: "--" + flag, from: "--" + flag + " " + showValues(key, values, " ")}
	if env := k.flagEnv(flag); env != "" {
		s.env, s.name, s.from = env, "environment "+env, "environment "+env+"="+showValues(key, values, ",")
	}
	return s
}

// showValues joins the values of option key for a message. A value is
// not shown when it looks like a key, or when key names an environment
// variable (passphrase_env) and the value is no variable name: that is
// the secret itself, typed where its name belongs.
func showValues(key string, values []string, sep string) string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v
		if pipeline.LooksSecret(v) || strings.HasSuffix(key, "_env") && !pipeline.ValidEnvName(v) {
			out[i] = "(a secret, not shown)"
		}
	}
	return strings.Join(out, sep)
}

// settings lists the options the key flags, the extra settings and -o
// give. -o typed on the command line does not hide SLUICE_OPTION: its
// options count as the environment's, so that per option the command
// line wins (see mergeSettings).
func (k *keyFlags) settings() ([]optionSetting, error) {
	out := append([]optionSetting(nil), k.extra...)
	for _, d := range []struct {
		flag, stage, key string
		values           []string
	}{
		{"recipient", "age", "recipient", k.recipients},
		{"recipients-file", "age", "recipients_file", k.recipientsFiles},
		{"identity", "age", "identity_file", k.identities},
		{"passphrase-env", "age", "passphrase_env", nonEmpty(k.passphraseEnv)},
		{"passphrase-file", "age", "passphrase_file", nonEmpty(k.passphraseFile)},
		{"fernet-key", "fernet", "key_file", nonEmpty(k.fernetKey)},
	} {
		if len(d.values) > 0 {
			out = append(out, k.setting(d.flag, d.stage, d.key, d.values...))
		}
	}
	var typed, fromEnv []string
	envName := k.flagEnv("option")
	if envName != "" {
		fromEnv = joinOptionPieces(k.options)
	} else {
		typed = k.options
		envName = flagEnvName("option")
		if v, ok := os.LookupEnv(envName); ok && k.fs != nil {
			fromEnv = joinOptionPieces(splitComma(v))
		}
	}
	for _, o := range typed {
		s, err := parseOptionSetting(o, "")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	for _, o := range fromEnv {
		s, err := parseOptionSetting(o, envName)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return typedKeysWin(out), nil
}

// typedKeysWin leaves out the keys from the environment when a key was
// typed: keys are one choice, replaced as a whole, so an exported
// SLUICE_RECIPIENT does not join a typed --passphrase-env (which age
// refuses to combine with recipients), nor an exported Fernet key a
// typed -i. A key is any option keyOption names, given by a key flag or
// -o alike.
func typedKeysWin(settings []optionSetting) []optionSetting {
	typed := slices.ContainsFunc(settings, func(s optionSetting) bool { return s.env == "" && keyOption(s.stage, s.key) })
	if !typed {
		return settings
	}
	return slices.DeleteFunc(settings, func(s optionSetting) bool { return s.env != "" && keyOption(s.stage, s.key) })
}

// keyOption reports whether option key of stage gives a key to encrypt
// (see [encryptKeys]) or decrypt with.
func keyOption(stage, key string) bool {
	return slices.Contains(encryptKeys(stage), key) || stage == "age" && key == "identity_file"
}

// joinOptionPieces undoes the comma split of SLUICE_OPTION within a
// value: a piece that does not start STAGE.OPTION= continues the
// option before it, so SLUICE_OPTION=age.recipient=A,B,zstd.level=3
// gives age.recipient=A,B (a list) and zstd.level=3.
func joinOptionPieces(pieces []string) []string {
	var out []string
	for _, p := range pieces {
		kv, _, hasValue := strings.Cut(p, "=")
		if len(out) > 0 && (!hasValue || !strings.Contains(kv, ".")) {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// stageOptions collects the raw options per stage that the key flags, the
// extra settings and -o give (see mergeSettings), per stage what gave
// them, to name in an error about their values, and the stages some
// option of which was typed on the command line (not only exported).
type stageOptions struct {
	opts  map[string]map[string]any
	from  map[string][]string
	typed map[string]bool
}

func (k *keyFlags) stageOptions(reg *pipeline.Registry) (*stageOptions, error) {
	settings, err := k.settings()
	if err != nil {
		return nil, err
	}
	merged, err := mergeSettings(reg, settings)
	if err != nil {
		return nil, err
	}
	so := &stageOptions{opts: map[string]map[string]any{}, from: map[string][]string{}, typed: map[string]bool{}}
	for _, m := range merged {
		if so.opts[m.stage] == nil {
			so.opts[m.stage] = map[string]any{}
		}
		so.opts[m.stage][m.key] = m.value
		so.from[m.stage] = append(so.from[m.stage], m.name)
		so.typed[m.stage] = so.typed[m.stage] || m.env == ""
	}
	return so, nil
}

// typedKey reports whether stage (age or fernet) has a key to encrypt
// with and some of its options were typed on the command line.
func (so *stageOptions) typedKey(stage string) bool {
	return so.typed[stage] && hasKey(so.opts, stage)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// optionSetting is one STAGE.OPTION value and what gave it.
type optionSetting struct {
	stage, key string
	values     []string // one value; several for a list flag such as -r
	text       bool     // values[0] is -o text: a list option's values comma-separated
	name       string   // the flag ("--option zstd.level") or "environment VARIABLE"
	from       string   // name with the value, for messages; a secret is not shown
	env        string   // the environment variable that gave it; "" when typed
}

// parseOptionSetting parses one -o STAGE.OPTION=VALUE, typed or (env set)
// from that environment variable.
func parseOptionSetting(o, env string) (optionSetting, error) {
	kv, val, ok := strings.Cut(o, "=")
	stage, key, ok2 := strings.Cut(kv, ".")
	if !ok || !ok2 || stage == "" || key == "" {
		o = showValues("", []string{o}, "")
		if env != "" {
			return optionSetting{}, usageErrorf("environment %s: %q: want STAGE.OPTION=VALUE", env, o)
		}
		return optionSetting{}, usageErrorf("--option %q: want STAGE.OPTION=VALUE", o)
	}
	shown := kv + "=" + showValues(key, []string{val}, "")
	s := optionSetting{stage: stage, key: key, values: []string{val}, text: true, name: "--option " + kv, from: "--option " + shown, env: env}
	if env != "" {
		s.name, s.from = "environment "+env+" ("+kv+")", "environment "+env+"="+shown
	}
	return s, nil
}

// mergedOption is the raw value one option gets from the settings.
type mergedOption struct {
	stage, key string
	value      any    // string, or []string for a list option
	name       string // of the first setting that gave it (see optionSetting)
	env        string // the variable that gave it, when no value was typed; else ""
}

// mergeSettings decides each option's value from the settings given for
// it, in the order first given. Per option, values typed on the command
// line replace the environment's, never the reverse. A list option (type
// list in sluice plugins, such as age.recipient) takes every value its
// winning side gives, in order; a single-valued option given twice with
// different values on one side is a usage error naming both, since
// neither should silently win. A stage or option the registry does not
// know is a usage error.
func mergeSettings(reg *pipeline.Registry, settings []optionSetting) ([]mergedOption, error) {
	type side struct{ typed, env []optionSetting }
	sides := map[[2]string]*side{}
	var order [][2]string
	for _, s := range settings {
		id := [2]string{s.stage, s.key}
		sd := sides[id]
		if sd == nil {
			sd = &side{}
			sides[id] = sd
			order = append(order, id)
		}
		if s.env != "" {
			sd.env = append(sd.env, s)
		} else {
			sd.typed = append(sd.typed, s)
		}
	}
	var out []mergedOption
	for _, id := range order {
		use := sides[id].typed
		if len(use) == 0 {
			use = sides[id].env
		}
		spec, err := optionSpec(reg, use[0])
		if err != nil {
			return nil, err
		}
		m := mergedOption{stage: id[0], key: id[1], name: use[0].name, env: use[0].env}
		if spec.Type == pipeline.List {
			var all []string
			for _, s := range use {
				if s.text {
					all = append(all, splitComma(s.values[0])...)
				} else {
					all = append(all, s.values...)
				}
			}
			m.value = all
		} else {
			for _, s := range use {
				if len(s.values) != 1 || s.values[0] != use[0].values[0] {
					return nil, usageErrorf("%s and %s both set %s.%s: give one", use[0].from, s.from, id[0], id[1])
				}
			}
			m.value = use[0].values[0]
		}
		out = append(out, m)
	}
	return out, nil
}

// optionSpec finds the record of the option s sets; an unknown stage or
// option is a usage error naming what gave it and what is known.
func optionSpec(reg *pipeline.Registry, s optionSetting) (pipeline.OptionSpec, error) {
	st, err := reg.Stage(s.stage)
	if err != nil {
		return pipeline.OptionSpec{}, usageErrorf("%s: %w", s.from, err)
	}
	var known []string
	for _, o := range st.Options {
		if o.Name == s.key {
			return o, nil
		}
		known = append(known, o.Name)
	}
	if len(known) == 0 {
		known = []string{"none"}
	}
	return pipeline.OptionSpec{}, usageErrorf("%s: stage %q: %s: %w (known: %s)", s.from, s.stage, s.key, pipeline.ErrUnknownOption, strings.Join(known, ", "))
}

// ageKeyOptions are the age options that give it someone to encrypt to.
var ageKeyOptions = []string{"recipient", "recipients_file", "passphrase_env", "passphrase_file"}

// encryptKeys are the options of stage (age or fernet) that give it a
// key to encrypt with.
func encryptKeys(stage string) []string {
	switch stage {
	case "age":
		return ageKeyOptions
	case "fernet":
		return []string{"key_file"}
	}
	return nil
}

// hasKey reports whether opts give stage (age or fernet) a key to encrypt
// with, by a key flag or -o alike.
func hasKey(opts map[string]map[string]any, stage string) bool {
	for _, k := range encryptKeys(stage) {
		if _, ok := opts[stage][k]; ok {
			return true
		}
	}
	return false
}

// backupChain builds the backup stages from --compress and --encrypt.
// With no key and no explicit --encrypt none it refuses: sluice never
// stores plaintext by accident. The level of --compress zstd:LEVEL is
// the option zstd.level: with -o zstd.level on the same side (command
// line or environment) it is a usage error, across sides the command
// line wins.
func backupChain(reg *pipeline.Registry, compress, encrypt string, k *keyFlags) ([]pipeline.ChainStage, error) {
	compName, level, hasLevel := strings.Cut(compress, ":")
	compSpec, err := reg.Stage(compName)
	if err != nil || compSpec.Kind != pipeline.Compression {
		return nil, usageErrorf("--compress %q: want zstd, zstd:LEVEL, gzip[:LEVEL], s2 or none", compress)
	}
	if hasLevel {
		s := k.setting("compress", compName, "level", compress)
		s.values = []string{level}
		k.extra = append([]optionSetting{s}, k.extra...)
	}
	so, err := k.stageOptions(reg)
	if err != nil {
		return nil, err
	}
	opts, from := so.opts, so.from
	// What the command line says wins over what the environment says: an
	// exported SLUICE_ENCRYPT, or exported keys of the other encryption
	// stage, give way to keys typed for one.
	commandKeys := so.typedKey("age") || so.typedKey("fernet")
	if k.flagEnv("encrypt") != "" && commandKeys && !so.typedKey(encrypt) {
		encrypt = ""
	}
	if encrypt == "" {
		switch {
		case so.typedKey("age"):
			encrypt = "age"
		case so.typedKey("fernet"):
			encrypt = "fernet"
		case hasKey(opts, "age"):
			encrypt = "age"
		case hasKey(opts, "fernet"):
			encrypt = "fernet"
		default:
			return nil, usageErrorf("refusing to store plaintext: give a recipient (-r, -R), a passphrase (--passphrase-env, --passphrase-file) or --fernet-key, or say --encrypt none")
		}
	}
	names := []string{compName}
	if encrypt != "none" {
		spec, err := reg.Stage(encrypt)
		if err != nil || spec.Kind != pipeline.Encryption {
			return nil, usageErrorf("--encrypt %q: want age, fernet or none", encrypt)
		}
		names = append(names, encrypt)
	} else if commandKeys {
		return nil, usageErrorf("--encrypt none contradicts the key flags given")
	}
	for stage := range opts {
		switch {
		case contains(names, stage):
		case so.typed[stage] && encrypt != "none" && hasKey(opts, stage):
			return nil, twoEncryptions(so, encrypt, stage)
		case so.typed[stage]:
			return nil, usageErrorf("options given for stage %q, which this backup does not use", stage)
		default:
			// Exported for other backups (SLUICE_OPTION, SLUICE_RECIPIENT…);
			// left unused here, as a flag's variable is where it cannot
			// apply.
			delete(opts, stage)
		}
	}
	var chain []pipeline.ChainStage
	for _, name := range names {
		spec, _ := reg.Stage(name)
		st, err := reg.NewStage(name, opts[name])
		if err != nil {
			// Name what gave the options (a flag, or the variable that
			// set it): the stage's message names only the option.
			if len(from[name]) > 0 {
				err = fmt.Errorf("%s: %w", strings.Join(from[name], ", "), err)
			}
			return nil, usageError(err)
		}
		if err := pipeline.CheckEncode(st); err != nil {
			if flags, ok := encodeKeyFlags[name]; ok && errors.Is(err, pipeline.ErrNoRecipient) {
				return nil, usageErrorf("--encrypt %s: %w: give %s", name, pipeline.ErrNoRecipient, flags)
			}
			return nil, usageErrorf("stage %q: %w", name, err)
		}
		chain = append(chain, pipeline.ChainStage{Spec: spec, Stage: st})
	}
	return chain, nil
}

// twoEncryptions is the usage error for a backup that encrypts with
// chosen while a key for the encryption stage other was typed too: a
// backup has one encryption, and which key was meant is not sluice's to
// guess. It names the flags that gave each.
func twoEncryptions(so *stageOptions, chosen, other string) error {
	otherBy := strings.Join(so.from[other], ", ")
	if !hasKey(so.opts, chosen) {
		return usageErrorf("--encrypt %s, but a key for %s given (%s): choose one encryption", chosen, other, otherBy)
	}
	by := map[string]string{chosen: strings.Join(so.from[chosen], ", "), other: otherBy}
	a, b := min(chosen, other), max(chosen, other)
	return usageErrorf("keys for two encryptions given, %s (%s) and %s (%s): choose one", a, by[a], b, by[b])
}

// encodeKeyFlags names, per encryption stage, the flags that give it
// someone to encrypt to; a stage not listed is named by its own message,
// in terms of its options (-o STAGE.OPTION=VALUE).
var encodeKeyFlags = map[string]string{
	"age":    "-r RECIPIENT, -R FILE, --passphrase-env VAR or --passphrase-file FILE",
	"fernet": "--fernet-key FILE",
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decodeKeys builds the per-stage decoding options for restore and
// verify. It builds each stage they give options for once, so that a
// missing identity file, an unset passphrase variable or an unreadable
// Fernet key is a usage error before anything is read, whatever stages
// the object turns out to have, naming the flag or variable that gave it.
func decodeKeys(reg *pipeline.Registry, k *keyFlags) (pipeline.Keys, error) {
	so, err := k.stageOptions(reg)
	if err != nil {
		return nil, err
	}
	for stage, opts := range so.opts {
		if _, err := reg.NewStage(stage, opts); err != nil {
			return nil, usageError(fmt.Errorf("%s: %w", strings.Join(so.from[stage], ", "), err))
		}
	}
	return pipeline.Keys(so.opts), nil
}

// chainNames names a backup's stages in order, "tar" first for a
// directory.
func chainNames(archived bool, chain []pipeline.ChainStage) []string {
	var names []string
	if archived {
		names = append(names, "tar")
	}
	for _, s := range chain {
		names = append(names, s.Spec.Name)
	}
	return names
}
