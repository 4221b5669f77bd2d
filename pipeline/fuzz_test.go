package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/sluice-backup/sluice/pipeline"
	_ "github.com/sluice-backup/sluice/stages/age"
	_ "github.com/sluice-backup/sluice/stages/gzip"
	_ "github.com/sluice-backup/sluice/stages/none"
	_ "github.com/sluice-backup/sluice/stages/s2"
	_ "github.com/sluice-backup/sluice/stages/zstd"
)

// The seed corpora of these fuzzers live in testdata/fuzz/<Fuzzer>/ and
// run as ordinary tests with `go test`; `go test -fuzz=FuzzX` explores
// further.

// FuzzExpandName checks that a name template never panics and either
// fails or yields a name CheckName accepts, whatever the template and the
// values of its placeholders.
func FuzzExpandName(f *testing.F) {
	f.Add("{source}-{time}", "photos", "host", int64(1764390300))
	f.Add("{pipeline}/{date}/{host}", "../..", "a/b", int64(0))
	f.Add("db-{time}.sql", "", "", int64(-1))
	f.Fuzz(func(t *testing.T, tmpl, source, host string, unix int64) {
		name, err := pipeline.ExpandName(tmpl, pipeline.NameVars{Pipeline: "p", Source: source, Host: host, Time: time.Unix(unix, 0)})
		if err != nil {
			if name != "" {
				t.Fatalf("error %v with name %q", err, name)
			}
			return
		}
		if err := pipeline.CheckName(name); err != nil {
			t.Fatalf("ExpandName(%q) = %q, which CheckName refuses: %v", tmpl, name, err)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("ExpandName(%q) = %q has a bad segment", tmpl, name)
			}
		}
		// Placeholder values never add structure: the template's own
		// slashes are the only ones.
		if strings.Count(name, "/") > strings.Count(tmpl, "/") {
			t.Fatalf("ExpandName(%q) = %q: a value added a path segment", tmpl, name)
		}
	})
}

// fuzzSpecs declares one option of every type.
var fuzzSpecs = []pipeline.OptionSpec{
	{Name: "level", Type: pipeline.Int, Default: "3"},
	{Name: "name", Type: pipeline.String},
	{Name: "fast", Type: pipeline.Bool},
	{Name: "keys", Type: pipeline.List},
	{Name: "timeout", Type: pipeline.Duration},
	{Name: "key_file", Type: pipeline.String, Secret: true},
}

// FuzzParseOptions feeds arbitrary keys and values, as a config file or
// a flag would give them, and checks ParseOptions never panics, that what
// it accepts has the declared types, and that errors name the key.
func FuzzParseOptions(f *testing.F) {
	f.Add("level", "19", "keys", "a,b", "timeout", "5s")
	f.Add("fast", "maybe", "level", "-1", "nope", "x")
	f.Add("timeout", "1h2m", "fast", "true", "key_file", "/k")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		raw := map[string]any{k1: v1, k2: v2, k3: v3}
		o, err := pipeline.ParseOptions(fuzzSpecs, raw)
		if err != nil {
			if !strings.Contains(err.Error(), "option") && !strings.ContainsAny(err.Error(), `"`) {
				// Every error should say which option it is about.
				found := false
				for k := range raw {
					if k != "" && strings.Contains(err.Error(), k) {
						found = true
					}
				}
				if !found {
					t.Fatalf("error names no key: %v", err)
				}
			}
			return
		}
		// Every getter works on what was accepted.
		_ = o.Int("level")
		_ = o.String("name")
		_ = o.Bool("fast")
		_ = o.List("keys")
		_ = o.Duration("timeout")
		_ = o.String("key_file")
	})
}

// fuzzIdentity is a test-only age identity, so fuzzing reaches the age
// payload of seeds encrypted to it.
const fuzzIdentity = "AGE-SECRET-KEY-1XSJRZAQ4MD48NUCNSRETM9V9VFJWUARHWSN6SEDQGV8JEYW6XHES0YQC7M"

// FuzzDecode stores arbitrary bytes as an object, without metadata (so
// the format is detected from magic bytes, layer after layer) and also
// recorded as each single stage, and decodes it. Decoding must never panic
// or hang; a success with no stage detected must return the bytes as
// they are; output is capped so decompression bombs stay cheap.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "hello", "\x28\xb5\x2f\xfd", "\x1f\x8b\x08", "sNaPpY", "age-encryption.org/v1\n", "-----BEGIN AGE ENCRYPTED FILE-----\n"} {
		f.Add([]byte(s), uint8(0))
	}
	dir := f.TempDir()
	idFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(idFile, []byte(fuzzIdentity+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	keys := pipeline.Keys{"age": {"identity_file": []string{idFile}}}
	stages := []string{"", "zstd", "gzip", "s2", "none", "age", "tar", "zstd,age", "tar,gzip"}
	bucket := memblob.OpenBucket(nil)
	f.Cleanup(func() { bucket.Close() })
	target := &pipeline.Target{URL: "mem://fuzz", Bucket: bucket}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte, stage uint8) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		name := fmt.Sprintf("obj-%d", n.Add(1))
		recorded := stages[int(stage)%len(stages)]
		var wo *blob.WriterOptions
		if recorded != "" {
			wo = &blob.WriterOptions{Metadata: map[string]string{pipeline.MetaStages: recorded}}
		}
		if err := bucket.WriteAll(ctx, name, data, wo); err != nil {
			t.Fatal(err)
		}
		defer bucket.Delete(context.Background(), name)
		dec := &pipeline.Decoder{Keys: keys}
		obj, err := dec.Open(ctx, target, name)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		defer obj.Close()
		var out bytes.Buffer
		_, err = io.Copy(&out, io.LimitReader(obj, 16<<20))
		if err == nil {
			err = obj.Verify()
		}
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if recorded == "" && len(obj.Stages) == 0 && !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("no stage detected, yet the output differs from the input")
		}
	})
}

// checkDecodeError checks an error is a described failure that does not
// carry the key.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if msg == "" {
		t.Fatalf("undescribed error %#v", err)
	}
	if strings.Contains(msg, fuzzIdentity) {
		t.Fatalf("error leaks the identity: %v", err)
	}
}
