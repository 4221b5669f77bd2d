package pipeline_test

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/stages/age"
	"github.com/sluice-backup/sluice/stages/gzip"
	"github.com/sluice-backup/sluice/stages/none"
	"github.com/sluice-backup/sluice/stages/s2"
	"github.com/sluice-backup/sluice/stages/zstd"
)

// testRegistry has the stages and backends sluice ships.
func testRegistry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	for _, s := range []pipeline.StageSpec{age.Spec, gzip.Spec, none.Spec, s2.Spec, zstd.Spec} {
		r.RegisterStage(s)
	}
	backends.Register(r)
	return r
}

// briefDoc is the brief's example as a YAML reader decodes it.
func briefDoc() map[string]any {
	return map[string]any{
		"pipelines": map[string]any{
			"photos": map[string]any{
				"source":  "/home/me/photos",
				"exclude": []any{"*.tmp", ".cache/"},
				"stages": []any{
					map[string]any{"zstd": map[string]any{"level": 3}},
					map[string]any{"age": map[string]any{"recipients_file": "~/.config/sluice/recipients.txt"}},
				},
				"targets": []any{
					"s3://my-backups/photos?region=eu-central-1",
					map[string]any{"url": "gs://other-cloud/photos"},
					map[string]any{"url": "azblob://backups/photos"},
				},
				"name":      "{pipeline}-{host}-{time}",
				"retention": map[string]any{"keep_last": 7, "keep_daily": 14, "keep_monthly": 12},
			},
		},
	}
}

// fernetQ has the form of a Fernet key (43 URL-safe base64 characters
// and "="); TestDecodeErrors checks that no error echoes "QQQQ".
const fernetQ = "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ="

func decode(t *testing.T, doc map[string]any) (*pipeline.Config, error) {
	t.Helper()
	return pipeline.DecodeConfig(testRegistry(), doc, pipeline.DecodeOptions{BaseDir: "/etc/sluice", Home: "/home/me"})
}

func TestDecodeBriefExample(t *testing.T) {
	cfg, err := decode(t, briefDoc())
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines["photos"]
	if p == nil || p.Name != "photos" {
		t.Fatalf("pipelines: %v", cfg.Names())
	}
	if len(p.Sources) != 1 || p.Sources[0] != "/home/me/photos" {
		t.Errorf("sources %q", p.Sources)
	}
	if strings.Join(p.Exclude, "|") != "*.tmp|.cache/" {
		t.Errorf("exclude %q", p.Exclude)
	}
	if len(p.Stages) != 2 || p.Stages[0].Spec.Name != "zstd" || p.Stages[0].Options.Int("level") != 3 {
		t.Fatalf("stages %+v", p.Stages)
	}
	if got := p.Stages[1].Options.List("recipients_file"); len(got) != 1 || got[0] != "/home/me/.config/sluice/recipients.txt" {
		t.Errorf("~ not expanded: %q", got)
	}
	if len(p.Targets) != 3 || p.Targets[0].URL != "s3://my-backups/photos?region=eu-central-1" || p.Targets[2].URL != "azblob://backups/photos" {
		t.Errorf("targets %+v", p.Targets)
	}
	if p.NameTemplate != "{pipeline}-{host}-{time}" {
		t.Errorf("name %q", p.NameTemplate)
	}
	want := pipeline.Retention{Last: 7, Daily: 14, Monthly: 12}
	if p.Retention == nil || *p.Retention != want {
		t.Errorf("retention %+v", p.Retention)
	}
}

// TestDecodeTargetGivenTwice: two targets of a pipeline in the same
// place, as DecodeOptions.CheckTarget (here backends.TargetPlace, as
// sluice passes it) says, are one target given twice, however they are
// written (a string or a map, in the pipeline or inherited from
// defaults); other places are other targets.
func TestDecodeTargetGivenTwice(t *testing.T) {
	const e = "http://127.0.0.1:57123"
	reg := testRegistry()
	place := func(u string, opts map[string]any) (string, error) { return backends.TargetPlace(reg, u, opts) }
	for _, tc := range []struct {
		name            string
		defaults, targs any
		want            string
	}{
		{"bare bucket", nil, []any{"mem://x", "s3://b/p", "b/p/"},
			"pipelines.photos.targets[2]: the same target as pipelines.photos.targets[1]: give each target once"},
		{"endpoint in a map", nil, []any{"s3://bkt1/g?endpoint=" + e, map[string]any{"url": "s3://bkt1/g", "endpoint": e}},
			"pipelines.photos.targets[1]: the same target as pipelines.photos.targets[0]: give each target once"},
		{"inherited", []any{"s3://bkt1/g?endpoint=" + e, "s3://bkt1/g/?region=us-east-1&endpoint=" + e + "/"}, nil,
			"defaults.targets[1]: the same target as defaults.targets[0]: give each target once"},
		{"other endpoint", nil, []any{"s3://bkt1/g?endpoint=" + e, "s3://bkt1/g"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := briefDoc()
			p := doc["pipelines"].(map[string]any)["photos"].(map[string]any)
			delete(p, "targets")
			if tc.targs != nil {
				p["targets"] = tc.targs
			}
			if tc.defaults != nil {
				doc["defaults"] = map[string]any{"targets": tc.defaults}
			}
			_, err := pipeline.DecodeConfig(reg, doc, pipeline.DecodeOptions{BaseDir: "/etc/sluice", Home: "/home/me", CheckTarget: place})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	type mut func(p map[string]any)
	cases := []struct {
		name string
		mut  mut
		want string
	}{
		{"unknown key", func(p map[string]any) { p["retension"] = map[string]any{} },
			"pipelines.photos.retension: unknown key (known: source, sources, exclude, stages, targets, name, retention, allow_plaintext, all_or_nothing, allow_changing_files, stall_timeout, upload_memory, bwlimit, bwlimit_target)"},
		{"stall_timeout type", func(p map[string]any) { p["stall_timeout"] = "soon" },
			`pipelines.photos.stall_timeout: want a duration such as 90s or 2h, got "soon"`},
		{"upload_memory unit", func(p map[string]any) { p["upload_memory"] = "lots" },
			`pipelines.photos.upload_memory: want a size such as 48MiB, got "lots"`},
		{"upload_memory type", func(p map[string]any) { p["upload_memory"] = []any{1} },
			`pipelines.photos.upload_memory: want a size such as 48MiB, got a list`},
		{"upload_memory too small", func(p map[string]any) { p["upload_memory"] = "8MiB" },
			`pipelines.photos.upload_memory: at least 15MiB (one upload of 5 MiB parts), got 8388608 bytes`},
		{"bwlimit unit", func(p map[string]any) { p["bwlimit"] = "fast" },
			`pipelines.photos.bwlimit: "fast" is not a rate (try 10MiB, per second, or 0 for no limit)`},
		{"bwlimit_target too low", func(p map[string]any) { p["bwlimit_target"] = 10 },
			`pipelines.photos.bwlimit_target: at least 1KiB per second, or 0 for no limit, got 10 bytes`},
		{"all_or_nothing type", func(p map[string]any) { p["all_or_nothing"] = "perhaps" },
			`pipelines.photos.all_or_nothing: want true or false, got "perhaps"`},
		{"wrong type", func(p map[string]any) { p["retention"] = map[string]any{"keep_last": "many"} },
			`pipelines.photos.retention.keep_last: want an integer, got "many"`},
		{"malformed exclude pattern", func(p map[string]any) { p["exclude"] = []any{"*.tmp", "[abc"} },
			`pipelines.photos.exclude[1]: archive: exclude pattern "[abc": syntax error in pattern`},
		{"empty name", func(p map[string]any) { p["name"] = "" },
			`pipelines.photos.name: empty: leave the key out for the default name`},
		{"stall_timeout number", func(p map[string]any) { p["stall_timeout"] = 5 },
			`pipelines.photos.stall_timeout: want a duration such as 90s or 2h, got a number 5`},
		{"wrong type list", func(p map[string]any) { p["exclude"] = 3 },
			"pipelines.photos.exclude: want a string or a list of strings, got a number"},
		{"unknown retention key", func(p map[string]any) { p["retention"] = map[string]any{"keep_forever": 1} },
			"pipelines.photos.retention.keep_forever: unknown key (known: keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within)"},
		{"unknown stage", func(p map[string]any) { p["stages"] = []any{map[string]any{"lzma": nil}, "age"} },
			`pipelines.photos.stages[0]: unknown stage "lzma" (known: age, gzip, none, s2, zstd)`},
		{"unknown stage option", func(p map[string]any) {
			p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"recipients_fil": "x"}}}
		}, "pipelines.photos.stages[1].age.recipients_fil: unknown option (known: recipient, recipients_file, identity_file, passphrase_env, passphrase_file, work_factor)"},
		{"stage option type", func(p map[string]any) {
			p["stages"] = []any{map[string]any{"zstd": map[string]any{"level": "max"}}, "age"}
		}, `pipelines.photos.stages[0].zstd.level: want an integer, got "max"`},
		{"two stages in one entry", func(p map[string]any) {
			p["stages"] = []any{map[string]any{"zstd": nil, "age": nil}}
		}, "pipelines.photos.stages[0]: want exactly one stage per entry, got 2 keys (age, zstd); write each stage as its own list item"},
		{"order", func(p map[string]any) { p["stages"] = []any{"age", "zstd"} },
			`pipelines.photos.stages: stage "zstd": compression must come before encryption (encrypted data does not compress)`},
		{"plaintext", func(p map[string]any) { p["stages"] = []any{"zstd"} },
			"pipelines.photos.stages: no encryption stage: sluice never stores plaintext by accident; add one (- age: {recipients_file: FILE}) or set allow_plaintext: true"},
		{"unknown target option", func(p map[string]any) {
			p["targets"] = []any{map[string]any{"url": "s3://b/p", "storage_clas": "GLACIER"}}
		}, "pipelines.photos.targets[0].storage_clas: unknown key (known: url, region, endpoint, profile, use_path_style, part_size, concurrency, storage_class, sse, sse_kms_key_id, object_lock_mode, object_lock_days, tags, max_attempts, max_backoff, idle_timeout)"},
		{"misspelled url", func(p map[string]any) { p["targets"] = []any{map[string]any{"uri": "s3://b/p", "region": "eu-west-1"}} },
			"pipelines.photos.targets[0].uri: unknown key: a target map needs url and takes its backend's options (sluice plugins lists them)"},
		{"no url", func(p map[string]any) { p["targets"] = []any{map[string]any{"region": "eu-west-1"}} },
			"pipelines.photos.targets[0]: missing url (the map has only region)"},
		{"unknown scheme", func(p map[string]any) { p["targets"] = []any{"ftp://x/y"} },
			`pipelines.photos.targets[0]: unknown scheme "ftp://" (known: azblob://, file://, gs://, mem://, s3://)`},
		{"bad template", func(p map[string]any) { p["name"] = "{nope}" },
			`pipelines.photos.name: name template "{nope}": unknown placeholder {nope} (known: {pipeline}, {source}, {host}, {time}, {date})`},
		{"sources without {source}", func(p map[string]any) { delete(p, "source"); p["sources"] = []any{"/a", "/b"} },
			"pipelines.photos.name: several sources need {source} in the name template, so their objects differ"},
		{"sources of one name", func(p map[string]any) {
			delete(p, "source")
			p["sources"] = []any{"/a/photos", "/b/photos/"}
			p["name"] = "{source}-{time}"
		}, `pipelines.photos.sources: /a/photos and /b/photos/ have the same name "photos", which {source} and retention know a source by; back them up in separate pipelines`},
		{"no source", func(p map[string]any) { delete(p, "source") },
			"pipelines.photos: no source: give source: PATH or sources: [PATH, ...]"},
		{"literal secret", func(p map[string]any) {
			p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"identity_file": "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"}}}
		}, "pipelines.photos.stages[1].age.identity_file: secret written into the config: this value looks like an age secret key; give the path of a file holding it"},
		{"Fernet key as key_file", func(p map[string]any) {
			p["stages"] = []any{"zstd", map[string]any{"fernet": map[string]any{"key_file": fernetQ}}}
		}, "pipelines.photos.stages[1].fernet.key_file: secret written into the config: this value looks like a Fernet key; give the path of a file holding it"},
		{"Fernet key in an identity_file list", func(p map[string]any) {
			p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"identity_file": []any{"/keys/id.txt", fernetQ + "\n"}}}}
		}, "pipelines.photos.stages[1].age.identity_file[1]: secret written into the config: this value looks like a Fernet key; give the path of a file holding it"},
		{"Fernet key as a target option", func(p map[string]any) {
			p["targets"] = []any{map[string]any{"url": "s3://b/p", "sse_kms_key_id": fernetQ}}
		}, "pipelines.photos.targets[0].sse_kms_key_id: secret written into the config: this value looks like a Fernet key; keep keys in files or environment variables and refer to them (identity_file, recipients_file, passphrase_file, passphrase_env, key_file)"},
		{"passphrase as passphrase_env", func(p map[string]any) {
			p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"passphrase_env": "QQQQ my passphrase"}}}
		}, "pipelines.photos.stages[1].age.passphrase_env: the value given is not a variable name and may be the secret itself; give the name of the environment variable holding the secret, [A-Za-z_][A-Za-z0-9_]*"},
		{"Fernet key as passphrase_env", func(p map[string]any) {
			p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"passphrase_env": fernetQ}}}
		}, "pipelines.photos.stages[1].age.passphrase_env: secret written into the config: this value looks like a Fernet key; keep keys in files or environment variables and refer to them (identity_file, recipients_file, passphrase_file, passphrase_env, key_file)"},
		{"bad keep_within", func(p map[string]any) { p["retention"] = map[string]any{"keep_within": "2w"} },
			`pipelines.photos.retention.keep_within: "2w" is not a duration: want numbers with units y, m (months), d and h, in that order, such as 30d, 1y6m or 36h (no weeks or minutes)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := briefDoc()
			c.mut(doc["pipelines"].(map[string]any)["photos"].(map[string]any))
			_, err := decode(t, doc)
			if err == nil {
				t.Fatalf("accepted; want %q", c.want)
			}
			if err.Error() != c.want {
				t.Fatalf("error\n got: %s\nwant: %s", err, c.want)
			}
			var ce *pipeline.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%T is not a *ConfigError", err)
			}
			if strings.Contains(err.Error(), "QQQQ") {
				t.Fatal("secret echoed")
			}
		})
	}
	_, err := decode(t, map[string]any{"pipeline": map[string]any{}})
	if err == nil || err.Error() != "pipeline: unknown key (known: defaults, pipelines)" {
		t.Fatalf("top-level typo: %v", err)
	}
}

func TestDefaultsApply(t *testing.T) {
	doc := map[string]any{
		"defaults": map[string]any{
			"stages":               []any{"zstd", map[string]any{"age": map[string]any{"recipient": "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"}}},
			"targets":              []any{"mem://d"},
			"retention":            map[string]any{"keep_last": 3},
			"name":                 "{pipeline}-{time}",
			"all_or_nothing":       true,
			"allow_changing_files": true,
			"stall_timeout":        "90s",
			"upload_memory":        "96MiB",
			"bwlimit":              "8MiB/s",
		},
		"pipelines": map[string]any{
			"a": map[string]any{"source": "rel/dir"},
			"b": map[string]any{"source": "/b", "targets": []any{"mem://b"}, "retention": map[string]any{"keep_daily": 2}, "stall_timeout": "1m", "upload_memory": 20971520, "bwlimit_target": "2MiB", "allow_changing_files": false},
		},
	}
	cfg, err := decode(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Pipelines["a"], cfg.Pipelines["b"]
	if a.Sources[0] != "/etc/sluice/rel/dir" {
		t.Errorf("relative source not resolved against the config folder: %q", a.Sources[0])
	}
	if len(a.Stages) != 2 || a.Targets[0].URL != "mem://d" || a.NameTemplate != "{pipeline}-{time}" || a.Retention.Last != 3 {
		t.Errorf("defaults not applied to a: %+v", a)
	}
	if !*a.AllOrNothing || *a.StallTimeout != 90*time.Second || *b.StallTimeout != time.Minute {
		t.Errorf("fan-out settings: a %v %v, b %v", *a.AllOrNothing, *a.StallTimeout, *b.StallTimeout)
	}
	if !*a.AllowChangingFiles || *b.AllowChangingFiles {
		t.Errorf("allow_changing_files: a %v, b %v; want the default true, b's own false", *a.AllowChangingFiles, *b.AllowChangingFiles)
	}
	if *a.UploadMemory != 96<<20 || *b.UploadMemory != 20<<20 {
		t.Errorf("upload_memory: a %d, b %d", *a.UploadMemory, *b.UploadMemory)
	}
	if *a.BWLimit != 8<<20 || a.BWLimitTarget != nil || *b.BWLimit != 8<<20 || *b.BWLimitTarget != 2<<20 {
		t.Errorf("bandwidth: a %v %v, b %v %v", a.BWLimit, a.BWLimitTarget, b.BWLimit, b.BWLimitTarget)
	}
	if b.Targets[0].URL != "mem://b" || *b.Retention != (pipeline.Retention{Daily: 2}) {
		t.Errorf("b's own values must replace the defaults: %+v %+v", b.Targets, b.Retention)
	}
}

func TestBuildStagesMissingSecretFile(t *testing.T) {
	doc := briefDoc()
	p := doc["pipelines"].(map[string]any)["photos"].(map[string]any)
	p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"recipients_file": "/nonexistent/recipients.txt"}}}
	cfg, err := decode(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Pipelines["photos"].BuildStages()
	want := "pipelines.photos.stages[1].age: recipients file: open /nonexistent/recipients.txt: no such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}

	p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"passphrase_env": "SLUICE_TEST_UNSET_PASSPHRASE"}}}
	os.Unsetenv("SLUICE_TEST_UNSET_PASSPHRASE")
	cfg, err = decode(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Pipelines["photos"].BuildStages()
	want = "pipelines.photos.stages[1].age: passphrase variable SLUICE_TEST_UNSET_PASSPHRASE is not set or empty"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestBuildStagesNoRecipient: an encryption stage with no one to encrypt
// to is a config error when the backup chain is built, not a failure once
// the backup runs.
func TestBuildStagesNoRecipient(t *testing.T) {
	doc := briefDoc()
	p := doc["pipelines"].(map[string]any)["photos"].(map[string]any)
	p["stages"] = []any{"zstd", "age"}
	cfg, err := decode(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Pipelines["photos"].BuildStages()
	want := "pipelines.photos.stages[1].age: no recipient to encrypt to: give recipient, recipients_file, passphrase_env or passphrase_file"
	var ce *pipeline.ConfigError
	if !errors.Is(err, pipeline.ErrNoRecipient) || !errors.As(err, &ce) || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}

	t.Setenv("SLUICE_TEST_PASSPHRASE", "correct horse battery staple")
	p["stages"] = []any{"zstd", map[string]any{"age": map[string]any{"passphrase_env": "SLUICE_TEST_PASSPHRASE", "work_factor": 10}}}
	if cfg, err = decode(t, doc); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Pipelines["photos"].BuildStages(); err != nil {
		t.Fatalf("passphrase: %v", err)
	}
}

// TestPipelineSourceExclude: a pipeline's exclude list applies to its
// directory sources and leaves a file source whole, while PathSource,
// given patterns for a file, refuses them.
func TestPipelineSourceExclude(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "single.txt")
	if err := os.WriteFile(file, []byte("whole"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &pipeline.PipelineConfig{Sources: []string{file, dir}, Exclude: []string{"*.tmp"}}
	src, err := p.SourceExcluding(file, nil)
	if err != nil {
		t.Fatalf("file source with excludes: %v", err)
	}
	if src.Archive || src.Size != 5 {
		t.Fatalf("file source: %+v", src)
	}
	if src, err := p.SourceExcluding(dir, nil); err != nil || !src.Archive {
		t.Fatalf("directory source: %+v, %v", src, err)
	}
	if _, err := pipeline.PathSource(file, p.Exclude); err == nil || !strings.Contains(err.Error(), "apply to directories only") {
		t.Fatalf("PathSource of a file with excludes: %v", err)
	}
	// A bad pattern is reported even where it would not be used.
	p.Exclude = []string{"[unclosed"}
	if _, err := p.SourceExcluding(file, nil); err == nil {
		t.Fatal("bad pattern accepted for a file source")
	}
}

func TestEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.txt")
	doc := briefDoc()
	doc["pipelines"].(map[string]any)["db-prod"] = map[string]any{
		"source":  "/var/db",
		"stages":  []any{"gzip", "age"},
		"targets": []any{"mem://x"},
	}
	environ := []string{
		"SLUICE_PIPELINES_DB_PROD_TARGETS=file:///a, file:///b",
		"SLUICE_PIPELINES_DB_PROD_RETENTION_KEEP_LAST=4",
		"SLUICE_PIPELINES_DB_PROD_STAGES_AGE_RECIPIENTS_FILE=" + rec,
		"SLUICE_PIPELINES_PHOTOS_STAGES_ZSTD_LEVEL=19",
		"SLUICE_PIPELINES_PHOTOS_EXCLUDE=*.iso",
		"SLUICE_DEFAULTS_NAME={pipeline}-{date}",
		"SLUICE_COMPRESS=gzip", // a flag's variable: not the config's business
		"PATH=/bin",
	}
	reg := testRegistry()
	origins, err := pipeline.ApplyEnv(reg, doc, environ)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.DecodeConfig(reg, doc, pipeline.DecodeOptions{Origins: origins})
	if err != nil {
		t.Fatal(err)
	}
	db, ph := cfg.Pipelines["db-prod"], cfg.Pipelines["photos"]
	if len(db.Targets) != 2 || db.Targets[1].URL != "file:///b" {
		t.Errorf("targets from env: %+v", db.Targets)
	}
	if db.Retention == nil || db.Retention.Last != 4 {
		t.Errorf("retention from env: %+v", db.Retention)
	}
	if got := db.Stages[1].Options.List("recipients_file"); len(got) != 1 || got[0] != rec {
		t.Errorf("stage option from env: %q", got)
	}
	if ph.Stages[0].Options.Int("level") != 19 {
		t.Errorf("environment must win over the file: level %d", ph.Stages[0].Options.Int("level"))
	}
	if strings.Join(ph.Exclude, ",") != "*.iso" {
		t.Errorf("exclude %q", ph.Exclude)
	}
	if db.NameTemplate != "{pipeline}-{date}" || ph.NameTemplate != "{pipeline}-{host}-{time}" {
		t.Errorf("defaults from env must fill only what the file leaves unset: %q %q", db.NameTemplate, ph.NameTemplate)
	}

	// A bad value from the environment names the variable.
	doc = briefDoc()
	origins, err = pipeline.ApplyEnv(reg, doc, []string{"SLUICE_PIPELINES_PHOTOS_RETENTION_KEEP_DAILY=lots"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pipeline.DecodeConfig(reg, doc, pipeline.DecodeOptions{Origins: origins})
	want := `pipelines.photos.retention.keep_daily (from SLUICE_PIPELINES_PHOTOS_RETENTION_KEEP_DAILY): want an integer, got "lots"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}

	// Typos and unknown pipelines are refused.
	for _, bad := range []string{"SLUICE_PIPELINES_PHOTOS_RETENSION_KEEP_LAST=1", "SLUICE_PIPELINES_NOPE_SOURCE=/x", "SLUICE_DEFAULTS_STAGES_AGE_RECIPIENT=age1x"} {
		if _, err := pipeline.ApplyEnv(reg, briefDoc(), []string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestEnvRetentionMergesDefaults: one retention key from the environment
// changes that key of the retention a pipeline inherits from the
// defaults, as it does of a pipeline's own, instead of replacing the
// whole policy (which made prune delete the monthly backups).
func TestEnvRetentionMergesDefaults(t *testing.T) {
	doc := briefDoc()
	pm := doc["pipelines"].(map[string]any)
	delete(pm["photos"].(map[string]any), "retention")
	pm["own"] = map[string]any{
		"source": "/x", "stages": []any{"zstd", map[string]any{"age": map[string]any{"recipients_file": "/r.txt"}}}, "targets": []any{"mem://x"},
		"retention": map[string]any{"keep_daily": 5},
	}
	doc["defaults"] = map[string]any{"retention": map[string]any{"keep_last": 7, "keep_monthly": 12}}
	reg := testRegistry()
	origins, err := pipeline.ApplyEnv(reg, doc, []string{
		"SLUICE_PIPELINES_PHOTOS_RETENTION_KEEP_LAST=3",
		"SLUICE_PIPELINES_OWN_RETENTION_KEEP_LAST=3",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.DecodeConfig(reg, doc, pipeline.DecodeOptions{Origins: origins})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]pipeline.Retention{
		"photos": {Last: 3, Monthly: 12},
		"own":    {Last: 3, Daily: 5},
	} {
		if got := cfg.Pipelines[name].Retention; got == nil || *got != want {
			t.Errorf("%s: retention %+v, want %+v", name, got, want)
		}
	}
	if got := doc["defaults"].(map[string]any)["retention"].(map[string]any)["keep_last"]; got != 7 {
		t.Errorf("the defaults' retention changed: keep_last %v", got)
	}
}

func TestEnvNameCollision(t *testing.T) {
	doc := briefDoc()
	pm := doc["pipelines"].(map[string]any)
	pm["db-prod"] = pm["photos"]
	pm["db_prod"] = pm["photos"]
	_, err := decode(t, doc)
	want := `pipelines.db_prod: pipelines "db-prod" and "db_prod" share the environment name DB_PROD`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v", err)
	}
}

// TestHomeWithoutHOME: "~/" in a config means the user's home even where
// $HOME is not set (a systemd system service without User=), taken from
// the user database, not a folder named "~".
func TestHomeWithoutHOME(t *testing.T) {
	u, err := user.Current()
	if err != nil || u.HomeDir == "" {
		t.Skipf("no home directory in the user database: %v", err)
	}
	t.Setenv("HOME", "")
	doc := map[string]any{"pipelines": map[string]any{"p": map[string]any{
		"source": "~/data", "stages": []any{"zstd"}, "allow_plaintext": true, "targets": []any{"mem://x"},
	}}}
	cfg, err := pipeline.DecodeConfig(testRegistry(), doc, pipeline.DecodeOptions{BaseDir: "/etc/sluice"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Pipelines["p"].Sources[0], filepath.Join(u.HomeDir, "data"); got != want {
		t.Fatalf("source %q with HOME unset, want %q", got, want)
	}
}
