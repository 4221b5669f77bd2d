package backends

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline"
)

// TestFileKeysFileblobEscapes: a key fileblob stores under an escaped
// path ("__0x" or "../" in it) is written by WriteNew, found by Occupied
// and deleted by Bucket.Delete under that same path, so a claim made for
// such a key is found and released like any other.
func TestFileKeysFileblobEscapes(t *testing.T) {
	dir := t.TempDir()
	tg, err := OpenTarget(t.Context(), newRegistry(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	for _, key := range []string{"x__0x41__y.zst.age.sluice.claim", "a../b.sluice.claim"} {
		if err := tg.WriteNew(t.Context(), key, []byte("1")); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if ok, err := tg.Bucket.Exists(t.Context(), key); !ok || err != nil {
			t.Errorf("%s: written by WriteNew, but the bucket does not find it (%v)", key, err)
		}
		if ok, err := tg.Occupied(t.Context(), key); !ok || err != nil {
			t.Errorf("%s: written, but Occupied says %v, %v", key, ok, err)
		}
		if err := tg.Bucket.Delete(t.Context(), key); err != nil {
			t.Fatalf("%s: delete: %v", key, err)
		}
		if ok, err := tg.Occupied(t.Context(), key); ok || err != nil {
			t.Errorf("%s: deleted, but Occupied says %v, %v", key, ok, err)
		}
	}
	if left := filesUnder(t, dir); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

// TestNamesStoredAsPrinted backs up to file:// and S3 and checks that the
// stored key is the name sluice reports (what ls or the aws CLI needs),
// that nothing but the object and its manifest is left, and that a name
// gocloud would store escaped is refused before anything is written.
func TestNamesStoredAsPrinted(t *testing.T) {
	endpoint := s3test.StartGoFakeS3(t)
	s3test.CreateBucket(t, endpoint, "names")
	reg := newRegistry()
	dir := t.TempDir()
	for _, tc := range []struct {
		url  string
		keys func(t *testing.T) []string // stored keys, relative to the prefix
	}{
		{"file://" + dir, func(t *testing.T) []string { return filesUnder(t, dir) }},
		{"s3://names/p", func(t *testing.T) []string {
			out, err := s3test.Client(endpoint).ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String("names"), Prefix: aws.String("p/")})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range out.Contents {
				keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), "p/"))
			}
			return keys
		}},
	} {
		t.Run(strings.SplitN(tc.url, ":", 2)[0], func(t *testing.T) {
			tg, err := OpenTarget(t.Context(), reg, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			backup := func(name string) (*pipeline.BackupResult, error) {
				b := &pipeline.Backup{
					Source:  pipeline.StreamSource("stdin", bytes.NewReader([]byte("precious")), -1),
					Targets: []*pipeline.Target{tg}, Name: name, ExpectedSize: -1,
				}
				return b.Run(t.Context())
			}
			for _, name := range []string{"x__0x41__y", "a../b"} {
				if _, err := backup(name); err == nil || !strings.Contains(err.Error(), "gocloud") {
					t.Errorf("name %q: %v, want a refusal that says why", name, err)
				}
			}
			if keys := tc.keys(t); len(keys) > 0 {
				t.Fatalf("refused names left %q", keys)
			}
			name, err := pipeline.ExpandName("{source}", pipeline.NameVars{Source: "x__0x41__y"})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := backup(name); err != nil {
					t.Fatal(err)
				}
			}
			got := tc.keys(t)
			slices.Sort(got)
			want := []string{"x_0x41__y-2", "x_0x41__y-2" + pipeline.ManifestSuffix, "x_0x41__y", "x_0x41__y" + pipeline.ManifestSuffix}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("stored %q, want %q", got, want)
			}
		})
	}
}

// filesUnder returns the paths of the files in dir and its folders,
// relative to dir, with "/" between names.
func filesUnder(t *testing.T, dir string) []string {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
