package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/sluice-backup/sluice/backends/azuretest"
	"github.com/sluice-backup/sluice/backends/gcstest"
	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/backends/stallproxy"
)

// clouds runs moto, fake-gcs-server and Azurite for one test, each with a
// bucket (container) named "fan".
type clouds struct {
	s3Endpoint string
	gcs        *fakestorage.Server
	azureURL   string
}

func startClouds(t *testing.T) *clouds {
	t.Helper()
	c := &clouds{s3Endpoint: s3test.StartMoto(t)}
	s3test.CreateBucket(t, c.s3Endpoint, "fan")
	c.gcs = gcstest.StartFakeGCS(t, "fan")
	c.azureURL = azuretest.StartAzurite(t, "fan")
	return c
}

// gcsKeys lists the objects under prefix in the "fan" GCS bucket.
func (c *clouds) gcsKeys(t *testing.T, prefix string) []string {
	t.Helper()
	objs, _, err := c.gcs.ListObjectsWithOptions("fan", fakestorage.ListOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return out
}

// fetch returns the stored bytes of the object at objectURL, read with
// each store's own client rather than through sluice.
func (c *clouds) fetch(t *testing.T, objectURL string) []byte {
	t.Helper()
	u, err := url.Parse(objectURL)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimPrefix(u.Path, "/")
	switch u.Scheme {
	case "s3":
		out, err := s3test.Client(c.s3Endpoint).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(u.Host), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("s3 get %s: %v", objectURL, err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	case "gs":
		obj, err := c.gcs.GetObject(u.Host, key)
		if err != nil {
			t.Fatalf("gcs get %s: %v", objectURL, err)
		}
		return obj.Content
	case "azblob":
		resp, err := azuretest.Client(t, c.azureURL).DownloadStream(context.Background(), u.Host, key, nil)
		if err != nil {
			t.Fatalf("azure get %s: %v", objectURL, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	case "file":
		b, err := os.ReadFile(u.Path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("no fetch for %s", objectURL)
	return nil
}

// s3Keys lists the objects and open multipart uploads under prefix in an
// S3 bucket.
func (c *clouds) s3Leftovers(t *testing.T, bucket, prefix string) (objects, uploads []string) {
	t.Helper()
	client := s3test.Client(c.s3Endpoint)
	ctx := context.Background()
	lo, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range lo.Contents {
		objects = append(objects, aws.ToString(o.Key))
	}
	mu, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range mu.Uploads {
		uploads = append(uploads, aws.ToString(u.Key))
	}
	return objects, uploads
}

// TestFanoutEveryCloud backs a tree up to S3, GCS, Azure and a folder in
// one run: four byte-identical copies, each restorable.
func TestFanoutEveryCloud(t *testing.T) {
	c := startClouds(t)
	key, rec := keypair(t)
	tree := makeTree(t)
	dir := t.TempDir()
	targets := []string{"s3://fan/every", "gs://fan/every", "azblob://fan/every", "file://" + dir + "/every"}
	args := []string{"backup", tree, "-r", rec}
	for _, tg := range targets {
		args = append(args, "--to", tg)
	}
	urls := urlLines(t, mustCLI(t, nil, args...))
	if len(urls) != len(targets) {
		t.Fatalf("stdout has %d URLs, want %d: %q", len(urls), len(targets), urls)
	}
	var first []byte
	for i, u := range urls {
		if !strings.HasPrefix(u, targets[i]+"/") {
			t.Fatalf("URL %d is %q, want one under %s", i, u, targets[i])
		}
		got := c.fetch(t, u)
		if first == nil {
			first = got
		} else if !bytes.Equal(got, first) {
			t.Fatalf("%s differs from %s (%d vs %d bytes)", u, urls[0], len(got), len(first))
		}
	}
	for _, u := range urls {
		t.Run("restore "+strings.SplitN(u, ":", 2)[0], func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out")
			mustCLI(t, nil, "restore", u, "--to", dest, "-i", key)
			compareTrees(t, tree, dest)
		})
	}
}

// TestFanoutOneTargetFails cuts the connections of one S3 target after
// 256 KiB each: the backup exits 3, the other targets hold their copies,
// and the failed one holds nothing, not even an open multipart upload.
func TestFanoutOneTargetFails(t *testing.T) {
	c := startClouds(t)
	s3test.CreateBucket(t, c.s3Endpoint, "flaky")
	cut := stallproxy.Start(t, strings.TrimPrefix(c.s3Endpoint, "http://"), 256<<10, stallproxy.Cut)
	key, rec := keypair(t)
	data := randomBytes(t, 12<<20) // incompressible: three 5 MiB parts
	targets := []string{"s3://fan/one", "s3://flaky/one?part_size=5242880&endpoint=" + cut, "gs://fan/one"}

	t.Run("exit 3", func(t *testing.T) {
		out, errs, code := cli(t, bytes.NewReader(data), "backup", "-", "--to", targets[0], "--to", targets[1], "--to", targets[2], "-r", rec, "--expected-size", "12MiB")
		if code != exitPartial {
			t.Fatalf("exit %d, want %d\nstderr: %s", code, exitPartial, errs)
		}
		urls := urlLines(t, out)
		if len(urls) != 2 || !strings.HasPrefix(urls[0], "s3://fan/one/") || !strings.HasPrefix(urls[1], "gs://fan/one/") {
			t.Fatalf("stdout %q: want the two stored copies", out)
		}
		if !strings.Contains(errs, "s3://flaky/one") {
			t.Errorf("stderr does not name the failed target:\n%s", errs)
		}
		if objs, ups := c.s3Leftovers(t, "flaky", ""); len(objs)+len(ups) != 0 {
			t.Fatalf("failed target holds objects %v and open uploads %v", objs, ups)
		}
		for _, u := range urls {
			if got := mustCLI(t, nil, "restore", u, "--to", "-", "-i", key); got != string(data) {
				t.Fatalf("%s restores %d bytes, want %d", u, len(got), len(data))
			}
		}
	})
	t.Run("all-or-nothing", func(t *testing.T) {
		targets := []string{"s3://fan/aon", "s3://flaky/aon?part_size=5242880&endpoint=" + cut, "gs://fan/aon"}
		out, errs, code := cli(t, bytes.NewReader(data), "backup", "-", "--to", targets[0], "--to", targets[1], "--to", targets[2], "-r", rec, "--all-or-nothing", "--expected-size", "12MiB")
		if code != exitFailure || out != "" {
			t.Fatalf("exit %d, stdout %q: want 1 and nothing stored\nstderr: %s", code, out, errs)
		}
		if objs, ups := c.s3Leftovers(t, "fan", "aon/"); len(objs)+len(ups) != 0 {
			t.Fatalf("good S3 target holds %v, uploads %v", objs, ups)
		}
		if objs, ups := c.s3Leftovers(t, "flaky", "aon/"); len(objs)+len(ups) != 0 {
			t.Fatalf("failed S3 target holds %v, uploads %v", objs, ups)
		}
		if objs := c.gcsKeys(t, "aon/"); len(objs) != 0 {
			t.Fatalf("GCS target holds %v", objs)
		}
	})
}

// TestFanoutStalledTarget holds one S3 target's connections open after
// 64 KiB: --stall-timeout aborts it, the others complete. The timeout is
// generous so that a healthy target on a loaded machine never trips it.
func TestFanoutStalledTarget(t *testing.T) {
	c := startClouds(t)
	s3test.CreateBucket(t, c.s3Endpoint, "stuck")
	stall := stallproxy.Start(t, strings.TrimPrefix(c.s3Endpoint, "http://"), 64<<10, stallproxy.Stall)
	key, rec := keypair(t)
	data := randomBytes(t, 12<<20)
	dir := t.TempDir()
	out, errs, code := cli(t, bytes.NewReader(data), "backup", "-", "-r", rec, "--stall-timeout", "10s", "--expected-size", "12MiB",
		"--to", "s3://fan/st", "--to", "s3://stuck/st?part_size=5242880&endpoint="+stall, "--to", "file://"+dir)
	if code != exitPartial {
		t.Fatalf("exit %d, want %d\nstderr: %s", code, exitPartial, errs)
	}
	if !strings.Contains(errs, "stalled") {
		t.Errorf("stderr does not say the target stalled:\n%s", errs)
	}
	urls := urlLines(t, out)
	if len(urls) != 2 {
		t.Fatalf("stdout %q: want two URLs", out)
	}
	for _, u := range urls {
		if got := mustCLI(t, nil, "restore", u, "--to", "-", "-i", key); got != string(data) {
			t.Fatalf("%s restores %d bytes, want %d", u, len(got), len(data))
		}
	}
	if objs, ups := c.s3Leftovers(t, "stuck", ""); len(objs)+len(ups) != 0 {
		t.Fatalf("stalled target holds objects %v and open uploads %v", objs, ups)
	}
}
