package pipeline_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/sluice-backup/sluice/pipeline"
)

// Canaries seeded into FuzzDecodeConfig's inputs: an age secret key and a
// URL password. No decoding error may carry them.
const (
	canaryKey = "AGE-SECRET-KEY-1QQQCANARYQQQ9V9VFJWUARHWSN6SEDQGV8JEYW6XHES0YQC7M"
	canaryPW  = "canary-url-password-7d1"
)

// FuzzDecodeConfig feeds arbitrary YAML and JSON documents, read as
// `sluice` reads a config file (viper, which lower-cases keys) and also as
// a plain YAML decoder gives them, plus arbitrary SLUICE_ environment
// variables, through ApplyEnv and DecodeConfig. Neither may panic; every
// error must say something; no error may carry secret-looking material or
// a URL's password.
func FuzzDecodeConfig(f *testing.F) {
	seeds := []struct{ doc, env string }{
		{"pipelines:\n  docs:\n    source: /srv/docs\n    targets: [file:///b]\n", ""},
		{"pipelines:\n  docs:\n    source: /srv\n    stages: [zstd: {level: 3}, age: {passphrase_env: PW}]\n    targets: ['s3://AKIA:" + canaryPW + "@bucket/p?region=x&X-Amz-Signature=" + canaryPW + "']\n", "SLUICE_PIPELINES_DOCS_STAGES_ZSTD_LEVEL=9"},
		{"pipelines:\n  x:\n    source: /s\n    stages:\n      - age:\n          identity_file: " + canaryKey + "\n    targets: [file:///b]\n", ""},
		{"pipelines:\n  " + canaryKey + ":\n    source: /s\n", ""},
		{"defaults:\n  targets: ['sftp://u:" + canaryPW + "@h/p']\n  retention: {keep_last: 3}\npipelines:\n  a: {source: /a}\n", "SLUICE_DEFAULTS_NAME={pipeline}-{time}"},
		{`{"pipelines": {"j": {"source": "/j", "targets": [{"url": "file:///t", "bogus": "` + canaryKey + `"}]}}}`, ""},
		{"pipelines:\n  p:\n    source: /p\n    targets: [file:///t]\n", "SLUICE_PIPELINES_P_STAGES=age\nSLUICE_PIPELINES_P_STAGES_AGE_PASSPHRASE_ENV=" + canaryKey},
		{"pipelines:\n  p:\n    source: /p\n    name: '{nope}'\n    retention: {keep_within: 3x}\n", "SLUICE_PIPELINES_Q_NAME=x"},
		{"pipelines: [1, 2]\n", ""},
		{"- a\n- b\n", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.doc), s.env)
	}
	f.Fuzz(func(t *testing.T, doc []byte, env string) {
		var docs []map[string]any
		for _, typ := range []string{"yaml", "json"} {
			v := viper.NewWithOptions(viper.KeyDelimiter("::"))
			v.SetConfigType(typ)
			if err := v.ReadConfig(bytes.NewReader(doc)); err == nil {
				docs = append(docs, v.AllSettings())
			}
		}
		var plain map[string]any
		if err := yaml.Unmarshal(doc, &plain); err == nil && plain != nil {
			docs = append(docs, plain)
		}
		environ := strings.Split(env, "\n")
		reg := testRegistry()
		for _, raw := range docs {
			origins, err := pipeline.ApplyEnv(reg, raw, environ)
			if err != nil {
				checkConfigError(t, err)
				continue
			}
			_, err = pipeline.DecodeConfig(reg, raw, pipeline.DecodeOptions{BaseDir: "/etc/sluice", Home: "/home/me", Origins: origins})
			if err != nil {
				checkConfigError(t, err)
			}
		}
	})
}

// checkConfigError checks a config error is described and carries no
// canary or other secret-looking material.
func checkConfigError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" {
		t.Fatalf("undescribed error %#v", err)
	}
	var ce *pipeline.ConfigError
	if errors.As(err, &ce) && ce.Err == nil {
		t.Fatalf("ConfigError without a cause: %#v", ce)
	}
	if strings.Contains(msg, canaryKey) || pipeline.LooksSecret(msg) {
		t.Fatalf("error carries secret-looking material: %v", err)
	}
	if strings.Contains(msg, ":"+canaryPW+"@") {
		t.Fatalf("error carries a URL password: %v", err)
	}
}
