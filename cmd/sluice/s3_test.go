package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

func TestRoundTripS3GoFakeS3(t *testing.T) {
	endpoint := s3test.StartGoFakeS3(t)
	s3test.CreateBucket(t, endpoint, "fake-bucket")
	roundTrip(t, "s3://fake-bucket/some/prefix")
}

func TestRoundTripS3Moto(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, "moto-bucket")
	roundTrip(t, "s3://moto-bucket/nightly")

	t.Run("bare bucket means s3", func(t *testing.T) {
		key, rec := keypair(t)
		url := singleURL(t, mustCLI(t, strings.NewReader("bare"), "backup", "-", "--to", "moto-bucket/bare", "-r", rec))
		if !strings.HasPrefix(url, "s3://moto-bucket/bare/stdin-") {
			t.Fatalf("url %q", url)
		}
		if out := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key); out != "bare" {
			t.Fatalf("got %q", out)
		}
		// The printed URL given to list names an object, not a folder.
		if _, stderr, code := cli(t, nil, "list", url); code != 1 || !strings.Contains(stderr, "list takes the target URL (s3://moto-bucket/bare)") {
			t.Errorf("list %s: exit %d\n%s", url, code, stderr)
		}
	})

	t.Run("multipart stream", func(t *testing.T) {
		key, rec := keypair(t)
		// Incompressible, 3 parts of 5 MiB and a bit.
		data := randomBytes(t, 16<<20+12345)
		url := singleURL(t, mustCLI(t, bytes.NewReader(data), "backup", "-", "--to", "s3://moto-bucket/mp?part_size=5242880", "-r", rec))
		obj := strings.TrimPrefix(url, "s3://moto-bucket/")
		head, err := s3test.Client(endpoint).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("moto-bucket"), Key: aws.String(obj)})
		if err != nil {
			t.Fatal(err)
		}
		if etag := aws.ToString(head.ETag); !strings.Contains(etag, "-") {
			t.Fatalf("ETag %s: want a multipart upload", etag)
		}
		if got := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key); got != string(data) {
			t.Fatalf("multipart round trip differs: %d bytes, want %d", len(got), len(data))
		}
	})

	t.Run("three targets share the upload memory", func(t *testing.T) {
		key, rec := keypair(t)
		for _, b := range []string{"moto-b1", "moto-b2", "moto-b3"} {
			s3test.CreateBucket(t, endpoint, b)
		}
		// Incompressible and a little over 12 MiB: one 16 MiB part for a
		// single target, but three targets share the 48 MiB budget, so
		// each uploads 5 MiB parts (three of them), one in flight. A
		// budget three times as large gives each the single-target plan.
		data := randomBytes(t, 12<<20+777)
		// The same file through a declared pipeline: its size is known,
		// so a 144 MiB budget gives each target 8 MiB parts, two in
		// flight (two parts), where the default would give three.
		src := filepath.Join(t.TempDir(), "three.bin")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`pipelines:
  three:
    source: %s
    stages: [zstd, {age: {recipient: %s}}]
    targets: [s3://moto-b1/run, s3://moto-b2/run, s3://moto-b3/run]
    upload_memory: 144MiB
`, src, rec))
		to := []string{"-r", rec, "--progress", "never",
			"--to", "s3://moto-b1/three", "--to", "s3://moto-b2/three", "--to", "s3://moto-b3/three"}
		backup := slices.Concat([]string{"backup", "-"}, to)
		// The file's folder as a directory source is measured before the
		// backup, so it is planned like the file (a stream would get one
		// 16 MiB part, a single PUT).
		dirBackup := slices.Concat([]string{"backup", filepath.Dir(src)}, to, []string{"--upload-memory", "144MiB"})
		for _, tc := range []struct {
			args []string
			etag string // suffix of each object's ETag
		}{
			{backup, "-3"},
			{slices.Concat(backup, []string{"--upload-memory", "144MiB"}), ""},
			{[]string{"run", "three", "--config", cfg, "--progress", "never"}, "-2"},
			{dirBackup, "-2"},
		} {
			urls := strings.Fields(mustCLI(t, bytes.NewReader(data), tc.args...))
			if len(urls) != 3 {
				t.Fatalf("%v: stdout %q, want three URLs", tc.args, urls)
			}
			for _, url := range urls {
				bucket, obj, _ := strings.Cut(strings.TrimPrefix(url, "s3://"), "/")
				head, err := s3test.Client(endpoint).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(obj)})
				if err != nil {
					t.Fatal(err)
				}
				etag := strings.Trim(aws.ToString(head.ETag), `"`)
				if multipart := strings.Contains(etag, "-"); tc.etag == "" && multipart || tc.etag != "" && !strings.HasSuffix(etag, tc.etag) {
					t.Errorf("%v: %s has ETag %s, want suffix %q", tc.args, url, etag, tc.etag)
				}
				if tc.args[1] == filepath.Dir(src) {
					dest := filepath.Join(t.TempDir(), "tree")
					mustCLI(t, nil, "restore", url, "--to", dest, "-i", key)
					if got, err := os.ReadFile(filepath.Join(dest, "three.bin")); err != nil || !bytes.Equal(got, data) {
						t.Fatalf("%s: restored %d bytes (%v), want %d", url, len(got), err, len(data))
					}
				} else if got := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key); got != string(data) {
					t.Fatalf("%s: restored %d bytes, want %d", url, len(got), len(data))
				}
			}
		}
	})

	t.Run("stream too large for its part size", func(t *testing.T) {
		_, rec := keypair(t)
		// --expected-size sizes parts; a far larger stream must fail with
		// a clear message, not at part 10,001.
		data := stagetest.Data(1<<20, 1)
		_, errs, code := cli(t, bytes.NewReader(data), "backup", "-", "--to", "s3://moto-bucket/limit", "-r", rec, "--expected-size", "100TiB")
		if code == 0 || !strings.Contains(errs, "part") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		_, rec := keypair(t)
		_, errs, code := cli(t, strings.NewReader("x"), "backup", "-", "--to", "s3://no-such-bucket/x", "-r", rec)
		if code == 0 || !strings.Contains(errs, `"no-such-bucket"`) {
			t.Fatalf("exit %d, stderr %q: want a clear error naming the bucket", code, errs)
		}
		_, errs, code = cli(t, nil, "restore", "s3://no-such-bucket/x/y.tar.zst.age", "--to", "-")
		if code == 0 || !strings.Contains(errs, "no-such-bucket") {
			t.Fatalf("restore: exit %d, stderr %q", code, errs)
		}
	})
}

// TestObjectURLCarriesEndpoint backs up to an S3 store reached only
// through the target's endpoint option, with no AWS_ENDPOINT_URL_S3, and
// checks that the printed URLs reach it again: restore, verify and list
// take them as printed, and list prints the same URLs. Write-only
// options (part_size) stay out of them; an endpoint given beside url in
// a config's target entry goes into them as one in the URL does.
func TestObjectURLCarriesEndpoint(t *testing.T) {
	endpoint := s3test.StartGoFakeS3(t)
	s3test.CreateBucket(t, endpoint, "ep-bucket")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	os.Unsetenv("AWS_ENDPOINT_URL_S3")
	key, rec := keypair(t)
	data := "reached through the URL's endpoint"
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	query := "?endpoint=" + endpoint + "&use_path_style=true"
	printed := singleURL(t, mustCLI(t, nil, "backup", src, "-r", rec, "--name", "f", "--progress", "never",
		"--to", "s3://ep-bucket/ep?part_size=5242880&use_path_style=true&endpoint="+url.QueryEscape(endpoint)))
	if want := "s3://ep-bucket/ep/f.zst.age" + query; printed != want {
		t.Fatalf("printed %q, want %q", printed, want)
	}
	if got := mustCLI(t, nil, "restore", printed, "--to", "-", "-i", key); got != data {
		t.Fatalf("restored %q, want %q", got, data)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustCLI(t, nil, "restore", printed, "--to", out, "-i", key)
	if got, err := os.ReadFile(out); err != nil || string(got) != data {
		t.Fatalf("restored to a file: %q, %v", got, err)
	}
	mustCLI(t, nil, "verify", printed, "-i", key)

	listed := mustCLI(t, nil, "list", "s3://ep-bucket/ep"+query)
	if fields := strings.Fields(listed); len(fields) == 0 || fields[len(fields)-1] != printed {
		t.Errorf("list printed %q, want a line ending in %s", listed, printed)
	}
	var entries []listEntry
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "list", "--json", "s3://ep-bucket/ep"+query)), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].URL != printed || entries[0].Target != "s3://ep-bucket/ep"+query {
		t.Errorf("list --json: %+v, want url %s", entries, printed)
	}

	// Without the endpoint the URL would lead to AWS.
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`pipelines:
  ep:
    source: %s
    name: cfg
    stages: [zstd, {age: {recipient: %s}}]
    targets: [{url: s3://ep-bucket/cfg, endpoint: %q, concurrency: 3}]
`, src, rec, endpoint))
	fromConfig := singleURL(t, mustCLI(t, nil, "run", "ep", "--config", cfg, "--progress", "never"))
	if want := "s3://ep-bucket/cfg/cfg.zst.age?endpoint=" + endpoint; fromConfig != want {
		t.Fatalf("run printed %q, want %q", fromConfig, want)
	}
	if got := mustCLI(t, nil, "restore", fromConfig, "--to", "-", "-i", key); got != data {
		t.Fatalf("restored %q, want %q", got, data)
	}
}
