package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	fp "github.com/sluice-backup/sluice/backends/faultproxy"
	"github.com/sluice-backup/sluice/backends/s3test"
)

// faultBucket is the bucket fault tests use.
const faultBucket = "faults"

// faultyS3 starts moto with bucket faultBucket and a fault proxy in front
// of it, and points the AWS environment at the proxy. It returns moto's
// own endpoint (to inspect the bucket behind sluice's back) and the proxy.
func faultyS3(t *testing.T) (string, *fp.Proxy) {
	t.Helper()
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, faultBucket)
	p := fp.Start(t, endpoint)
	s3test.Env(t, p.URL)
	return endpoint, p
}

// s3Leftovers returns the object keys and open multipart uploads under
// prefix in faultBucket.
func s3Leftovers(t *testing.T, endpoint, prefix string) (objects, uploads []string) {
	return s3Contents(t, endpoint, faultBucket, prefix)
}

// s3Contents returns the object keys and open multipart uploads under
// prefix in bucket, asking the server directly.
func s3Contents(t *testing.T, endpoint, bucket, prefix string) (objects, uploads []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s3test.Client(endpoint)
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range lo.Contents {
		objects = append(objects, aws.ToString(o.Key))
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range lu.Uploads {
		uploads = append(uploads, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
	}
	return objects, uploads
}

// faultTargetOpts keep fault tests short: few attempts, short backoff,
// stalls detected after 2s, 5 MiB parts.
const faultTargetOpts = "?part_size=5242880&max_attempts=3&max_backoff=200ms&idle_timeout=2s"

// faultCounter totals the faults the tests of this file inject.
var faultCounter int

func countFaults(t *testing.T, p *fp.Proxy) {
	t.Cleanup(func() {
		faultCounter += p.Injected()
		t.Logf("faults injected: %d (total so far %d)", p.Injected(), faultCounter)
	})
}

// TestS3TransientFaultsSurvived injects faults the retries must absorb, at
// points of a multipart upload, a single PUT and a download; every backup
// and restore must succeed with the right data.
func TestS3TransientFaultsSurvived(t *testing.T) {
	endpoint, p := faultyS3(t)
	countFaults(t, p)
	key, rec := keypair(t)
	big := randomBytes(t, 12<<20) // 3 parts of 5 MiB after age
	small := []byte("small object, single PUT")

	cases := []struct {
		name  string
		data  []byte
		rules []fp.Rule
	}{
		{"503 SlowDown on part 2", big, []fp.Rule{{Method: "PUT", Query: "partNumber=2", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 503}}}},
		{"500 on every part once", big, []fp.Rule{
			{Method: "PUT", Query: "partNumber=1", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 500}},
			{Method: "PUT", Query: "partNumber=2", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 500}},
			{Method: "PUT", Query: "partNumber=3", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 500}},
		}},
		{"500 on create multipart upload", big, []fp.Rule{{Method: "POST", Query: "uploads", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 500}}}},
		{"503 on complete multipart upload", big, []fp.Rule{{Method: "POST", Query: "uploadId", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 503}}}},
		{"reset mid part 1", big, []fp.Rule{{Method: "PUT", Query: "partNumber=1", Times: 1, Fault: fp.Fault{Kind: fp.Reset, AfterBytes: 1 << 20}}}},
		{"two resets on part 3", big, []fp.Rule{{Method: "PUT", Query: "partNumber=3", Times: 2, Fault: fp.Fault{Kind: fp.Reset, AfterBytes: 100}}}},
		{"stall mid part 2", big, []fp.Rule{{Method: "PUT", Query: "partNumber=2", Times: 1, Fault: fp.Fault{Kind: fp.Stall, AfterBytes: 512 << 10}}}},
		{"reset on single put", small, []fp.Rule{{Method: "PUT", Query: "x-id=PutObject", Suffix: ".age", Times: 1, Fault: fp.Fault{Kind: fp.Reset}}}},
		{"503 on head of bucket", small, []fp.Rule{{Method: "HEAD", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 503}}}},
		{"download 503", big, []fp.Rule{{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 503}}}},
		{"download reset mid body", big, []fp.Rule{{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Times: 1, Fault: fp.Fault{Kind: fp.Reset, AfterBytes: 3 << 20}}}},
		{"download stall mid body", big, []fp.Rule{{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Times: 1, Fault: fp.Fault{Kind: fp.Stall, AfterBytes: 1 << 20}}}},
		{"download reset twice", big, []fp.Rule{{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Times: 2, Fault: fp.Fault{Kind: fp.Reset, AfterBytes: 64 << 10}}}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.Clear()
			before := p.Injected()
			prefix := "ok" + string(rune('a'+i))
			download := strings.HasPrefix(tc.name, "download")
			if !download {
				p.Add(tc.rules...)
			}
			out, errs, code := cli(t, bytes.NewReader(tc.data), "backup", "-", "--to", "s3://"+faultBucket+"/"+prefix+faultTargetOpts, "-r", rec, "--log-level", "warn")
			if code != 0 {
				t.Fatalf("backup: exit %d\n%s\nproxy log:\n%s", code, errs, strings.Join(p.Log(), "\n"))
			}
			url := singleURL(t, out)
			if !download && !strings.Contains(errs, "retrying") {
				t.Errorf("retries are not logged: %q", errs)
			}
			if download {
				p.Add(tc.rules...)
			}
			got, errs, code := cli(t, nil, "restore", url+faultTargetOpts, "--to", "-", "-i", key)
			if code != 0 {
				t.Fatalf("restore: exit %d\n%s\nproxy log:\n%s", code, errs, strings.Join(p.Log(), "\n"))
			}
			if got != string(tc.data) {
				t.Fatalf("restored %d bytes, want %d identical", len(got), len(tc.data))
			}
			if p.Injected() == before {
				t.Fatalf("no fault was injected; proxy log:\n%s", strings.Join(p.Log(), "\n"))
			}
			if _, uploads := s3Leftovers(t, endpoint, prefix); len(uploads) > 0 {
				t.Fatalf("open multipart uploads left: %v", uploads)
			}
		})
	}
}

// TestS3PersistentFaultsFailCleanly injects faults that outlast every
// retry: the target must fail with an error naming it, leave no object and
// no open multipart upload, and a restore must leave nothing behind.
func TestS3PersistentFaultsFailCleanly(t *testing.T) {
	endpoint, p := faultyS3(t)
	countFaults(t, p)
	key, rec := keypair(t)
	big := randomBytes(t, 12<<20)

	uploads := []struct {
		name  string
		data  []byte
		rules []fp.Rule
	}{
		{"503 on every part 2", big, []fp.Rule{{Method: "PUT", Query: "partNumber=2", Fault: fp.Fault{Kind: fp.Status, Code: 503}}}},
		{"reset on every part", big, []fp.Rule{{Method: "PUT", Query: "partNumber", Fault: fp.Fault{Kind: fp.Reset, AfterBytes: 1000}}}},
		{"stall on every part 3", big, []fp.Rule{{Method: "PUT", Query: "partNumber=3", Fault: fp.Fault{Kind: fp.Stall, AfterBytes: 1 << 20}}}},
		{"500 on every complete", big, []fp.Rule{{Method: "POST", Query: "uploadId", Fault: fp.Fault{Kind: fp.Status, Code: 500}}}},
		{"reset on every single put", []byte("small"), []fp.Rule{{Method: "PUT", Query: "x-id=PutObject", Suffix: ".age", Fault: fp.Fault{Kind: fp.Reset}}}},
	}
	for i, tc := range uploads {
		t.Run(tc.name, func(t *testing.T) {
			p.Clear()
			p.Add(tc.rules...)
			prefix := "fail" + string(rune('a'+i))
			target := "s3://" + faultBucket + "/" + prefix
			out, errs, code := cli(t, bytes.NewReader(tc.data), "backup", "-", "--to", target+faultTargetOpts, "-r", rec, "--log-level", "warn")
			if code != exitFailure || out != "" {
				t.Fatalf("exit %d, stdout %q, want 1 and nothing\n%s", code, out, errs)
			}
			if !strings.Contains(errs, "target "+target) {
				t.Fatalf("error does not name the target %s:\n%s", target, errs)
			}
			p.Clear() // let the inspection through
			objects, open := s3Leftovers(t, endpoint, prefix)
			if len(objects) > 0 || len(open) > 0 {
				t.Fatalf("left behind: objects %v, multipart uploads %v", objects, open)
			}
		})
	}

	t.Run("one target fails, the other stores", func(t *testing.T) {
		p.Clear()
		p.Add(fp.Rule{Method: "PUT", Query: "partNumber", Fault: fp.Fault{Kind: fp.Status, Code: 503}})
		store := t.TempDir()
		out, errs, code := cli(t, bytes.NewReader(big), "backup", "-", "--to", "s3://"+faultBucket+"/mixed"+faultTargetOpts, "--to", "file://"+store, "-r", rec, "--log-level", "error")
		if code != exitPartial {
			t.Fatalf("exit %d, want %d\n%s", code, exitPartial, errs)
		}
		url := singleURL(t, out)
		if !strings.HasPrefix(url, "file://") {
			t.Fatalf("stored %s", url)
		}
		p.Clear()
		if objects, open := s3Leftovers(t, endpoint, "mixed"); len(objects) > 0 || len(open) > 0 {
			t.Fatalf("left behind: objects %v, multipart uploads %v", objects, open)
		}
	})

	downloads := []struct {
		name string
		rule fp.Rule
	}{
		{"download 503 every time", fp.Rule{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Fault: fp.Fault{Kind: fp.Status, Code: 503}}},
		// Resumption continues as long as each attempt makes progress, so
		// the persistent faults hit before the first byte of the body.
		{"download reset every time", fp.Rule{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Fault: fp.Fault{Kind: fp.Reset}}},
		{"download stall every time", fp.Rule{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Fault: fp.Fault{Kind: fp.Stall}}},
	}
	p.Clear()
	url := singleURL(t, mustCLI(t, bytes.NewReader(big), "backup", "-", "--to", "s3://"+faultBucket+"/dl"+faultTargetOpts, "-r", rec))
	for _, tc := range downloads {
		for _, mode := range []string{"file", "stdout"} {
			t.Run(tc.name+" to "+mode, func(t *testing.T) {
				p.Clear()
				p.Add(tc.rule)
				dest := filepath.Join(t.TempDir(), "restored")
				to := dest
				if mode == "stdout" {
					to = "-"
				}
				_, errs, code := cli(t, nil, "restore", url+faultTargetOpts, "--to", to, "-i", key)
				if code != exitFailure {
					t.Fatalf("exit %d, want 1\n%s", code, errs)
				}
				if !strings.Contains(errs, url) {
					t.Fatalf("error does not name the object %s:\n%s", url, errs)
				}
				if mode == "file" {
					assertNothingAt(t, dest)
				}
			})
		}
	}
}

// TestS3RetriesLoggedAsJSON checks that a target's own log records (an
// S3 retry) are JSON with --json, for backup, for run, whose targets are
// opened before the backup's reporter starts, and for restore: stderr
// holds JSON lines only, the retry warning among them.
func TestS3RetriesLoggedAsJSON(t *testing.T) {
	_, p := faultyS3(t)
	key, rec := keypair(t)
	src := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(src, randomBytes(t, 12<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`pipelines:
  data:
    source: %s
    stages: [zstd, {age: {recipient: %s}}]
    targets: ["s3://%s/run%s"]
`, src, rec, faultBucket, faultTargetOpts))
	var url string
	for _, args := range [][]string{
		{"backup", src, "--to", "s3://" + faultBucket + "/backup" + faultTargetOpts, "-r", rec, "--json"},
		{"--config", cfg, "run", "--json"},
		{"restore", "", "--to", "-", "-i", key, "--json"},
	} {
		p.Clear()
		rule := fp.Rule{Method: "PUT", Query: "partNumber=2", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 503}}
		if args[0] == "restore" {
			args[1] = url + faultTargetOpts
			rule = fp.Rule{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Times: 1, Fault: fp.Fault{Kind: fp.Status, Code: 503}}
		}
		p.Add(rule)
		stdout, stderr, code := cli(t, nil, args...)
		if args[0] == "backup" {
			url = strings.TrimSpace(stdout)
		}
		retried := false
		for _, ev := range jsonEvents(t, stderr) {
			if msg, _ := ev["msg"].(string); ev["level"] == "WARN" && strings.Contains(msg, "retrying") {
				retried = true
			}
		}
		if code != 0 || !retried {
			t.Errorf("%v: exit %d, no JSON retry record:\n%s", args, code, stderr)
		}
	}
}
