package main

import (
	"errors"
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
	fs.StringVar(&k.passphraseEnv, "passphrase-env", "", "name of the environment variable holding the age passphrase")
	fs.StringVar(&k.passphraseFile, "passphrase-file", "", "file holding the age passphrase")
	fs.StringVar(&k.fernetKey, "fernet-key", "", "key file in Python cryptography's Fernet format")
	fs.StringArrayVarP(&k.options, "option", "o", nil, "stage option as STAGE.OPTION=VALUE, e.g. zstd.concurrency=2 (repeatable; see sluice plugins)")
}

// stageOptions collects raw options per stage from the key flags and -o.
func (k *keyFlags) stageOptions() (map[string]map[string]any, error) {
	opts := map[string]map[string]any{}
	set := func(stage, key string, v any) {
		if opts[stage] == nil {
			opts[stage] = map[string]any{}
		}
		opts[stage][key] = v
	}
	if len(k.recipients) > 0 {
		set("age", "recipient", k.recipients)
	}
	if len(k.recipientsFiles) > 0 {
		set("age", "recipients_file", k.recipientsFiles)
	}
	if len(k.identities) > 0 {
		set("age", "identity_file", k.identities)
	}
	if k.passphraseEnv != "" {
		set("age", "passphrase_env", k.passphraseEnv)
	}
	if k.passphraseFile != "" {
		set("age", "passphrase_file", k.passphraseFile)
	}
	if k.fernetKey != "" {
		set("fernet", "key_file", k.fernetKey)
	}
	for _, o := range k.options {
		kv, val, ok := strings.Cut(o, "=")
		stage, key, ok2 := strings.Cut(kv, ".")
		if !ok || !ok2 || stage == "" || key == "" {
			return nil, usageErrorf("--option %q: want STAGE.OPTION=VALUE", o)
		}
		set(stage, key, val)
	}
	return opts, nil
}

// hasAgeKey reports whether any flag asks for age encryption.
func (k *keyFlags) hasAgeKey() bool {
	return len(k.recipients) > 0 || len(k.recipientsFiles) > 0 || k.passphraseEnv != "" || k.passphraseFile != ""
}

// backupChain builds the backup stages from --compress and --encrypt.
// With no key and no explicit --encrypt none it refuses: sluice never
// stores plaintext by accident.
func backupChain(reg *pipeline.Registry, compress, encrypt string, k *keyFlags) ([]pipeline.ChainStage, error) {
	opts, err := k.stageOptions()
	if err != nil {
		return nil, err
	}
	compName, level, hasLevel := strings.Cut(compress, ":")
	compSpec, err := reg.Stage(compName)
	if err != nil || compSpec.Kind != pipeline.Compression {
		return nil, usageErrorf("--compress %q: want zstd, zstd:LEVEL, gzip[:LEVEL], s2 or none", compress)
	}
	if hasLevel {
		if opts[compName] == nil {
			opts[compName] = map[string]any{}
		}
		opts[compName]["level"] = level
	}
	if encrypt == "" {
		switch {
		case k.hasAgeKey():
			encrypt = "age"
		case k.fernetKey != "":
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
	} else if k.hasAgeKey() || k.fernetKey != "" {
		return nil, usageErrorf("--encrypt none contradicts the key flags given")
	}
	for stage := range opts {
		if !contains(names, stage) {
			return nil, usageErrorf("options given for stage %q, which this backup does not use", stage)
		}
	}
	var chain []pipeline.ChainStage
	for _, name := range names {
		spec, _ := reg.Stage(name)
		st, err := reg.NewStage(name, opts[name])
		if err != nil {
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

// decodeKeys builds the per-stage decoding options for restore and verify.
func decodeKeys(k *keyFlags) (pipeline.Keys, error) {
	opts, err := k.stageOptions()
	if err != nil {
		return nil, err
	}
	return pipeline.Keys(opts), nil
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
