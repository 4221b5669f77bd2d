package backends

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/backends/gcstest"
	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline"
)

func newRegistry() *pipeline.Registry {
	reg := pipeline.NewRegistry()
	Register(reg)
	return reg
}

func TestRegisterDefault(t *testing.T) {
	for _, scheme := range []string{"s3", "gs", "azblob", "file", "mem"} {
		if _, err := pipeline.Default.Backend(scheme); err != nil {
			t.Errorf("pipeline.Default lacks %s: %v", scheme, err)
		}
	}
}

// TestOpenTarget opens targets of every local or in-process kind and checks
// what the URL turned into.
func TestOpenTarget(t *testing.T) {
	endpoint := s3test.StartGoFakeS3(t)
	s3test.CreateBucket(t, endpoint, "bkt")
	gcstest.StartFakeGCS(t, "gbucket")
	dir := t.TempDir()
	reg := newRegistry()

	tests := []struct {
		url        string
		extra      map[string]any
		wantURL    string
		wantPrefix string
	}{
		{url: "bkt/photos", wantURL: "s3://bkt/photos", wantPrefix: "photos/"},
		{url: "bkt", wantURL: "s3://bkt", wantPrefix: ""},
		{url: "bkt/", wantURL: "s3://bkt", wantPrefix: ""},
		{url: "s3://bkt/a/b/", wantURL: "s3://bkt/a/b", wantPrefix: "a/b/"},
		{url: "S3://bkt/a", wantURL: "s3://bkt/a", wantPrefix: "a/"},
		{url: "s3://bkt/my%20photos", wantURL: "s3://bkt/my%20photos", wantPrefix: "my photos/"},
		// The options that reach the bucket stay in the URL, sorted, whether
		// the URL or the config gave them; write-only settings do not.
		{url: "s3://bkt/p?region=us-east-1&part_size=5242880&concurrency=4", wantURL: "s3://bkt/p?region=us-east-1", wantPrefix: "p/"},
		{url: "s3://bkt/p", extra: map[string]any{"concurrency": 3, "use_path_style": true}, wantURL: "s3://bkt/p?use_path_style=true", wantPrefix: "p/"},
		{url: "s3://bkt/p?use_path_style=1&storage_class=STANDARD&tags=a%3Db&max_attempts=2", extra: map[string]any{"region": "us-east-1"},
			wantURL: "s3://bkt/p?region=us-east-1&use_path_style=true", wantPrefix: "p/"},
		{url: "s3://bkt/p?endpoint=" + url.QueryEscape(endpoint), wantURL: "s3://bkt/p?endpoint=" + endpoint, wantPrefix: "p/"},
		{url: "s3://bkt/p", extra: map[string]any{"endpoint": endpoint, "part_size": 5 << 20}, wantURL: "s3://bkt/p?endpoint=" + endpoint, wantPrefix: "p/"},
		{url: "file://" + dir + "/new/nested/", wantURL: "file://" + dir + "/new/nested"},
		{url: "file://localhost" + dir, wantURL: "file://" + dir},
		{url: "file://" + dir + "/x/../y", wantURL: "file://" + dir + "/y"},
		{url: "mem://", wantURL: "mem://default"},
		{url: "mem://box", wantURL: "mem://box"},
		{url: "mem://box/daily/", wantURL: "mem://box/daily", wantPrefix: "daily/"},
		{url: "gs://gbucket/a/b?anonymous=true", wantURL: "gs://gbucket/a/b?anonymous=true", wantPrefix: "a/b/"},
		{url: "azblob://container/p?storage_account=sluicetest", wantURL: "azblob://container/p?storage_account=sluicetest", wantPrefix: "p/"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			tg, err := OpenTarget(t.Context(), reg, tt.url, tt.extra)
			if err != nil {
				t.Fatalf("OpenTarget: %v", err)
			}
			defer tg.Close()
			if tg.URL != tt.wantURL || tg.Prefix != tt.wantPrefix {
				t.Errorf("got URL %q prefix %q, want %q and %q", tg.URL, tg.Prefix, tt.wantURL, tt.wantPrefix)
			}
			if tg.Bucket == nil && tg.Create == nil {
				t.Error("nil Bucket and no Create")
			}
		})
	}
	// Opening creates nothing; a backup creates the folder (Create).
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("opening a file target created its folder (%v)", err)
	}
}

func TestOpenTargetErrors(t *testing.T) {
	s3test.StartGoFakeS3(t)
	reg := newRegistry()
	tests := []struct {
		url   string
		extra map[string]any
		is    error    // wrapped sentinel, if any
		want  []string // substrings of the message
	}{
		{url: "", want: []string{"empty URL"}},
		{url: "ftp://host/x", is: pipeline.ErrUnknownScheme, want: []string{`"ftp://"`, "s3://"}},
		{url: "/abs/path", want: []string{"file:///abs/path"}},
		{url: "./rel", want: []string{"file:///abs/path"}},
		{url: "s3://", want: []string{"missing bucket name"}},
		{url: "s3:///prefix", want: []string{"missing bucket name"}},
		{url: "s3://bkt:99/p", want: []string{"bad bucket name"}},
		{url: "s3://bkt/a/../b", want: []string{`".."`}},
		{url: "s3://bkt/a//b", want: []string{"empty path segment"}},
		{url: "s3://bkt/p#frag", want: []string{`"#"`}},
		{url: "s3://bkt/p?regoin=eu-west-1", is: pipeline.ErrUnknownOption, want: []string{"regoin", "known: region, endpoint"}},
		{url: "s3://bkt/p", extra: map[string]any{"bogus": 1}, is: pipeline.ErrUnknownOption, want: []string{"bogus"}},
		{url: "s3://bkt/p?part_size=abc", want: []string{"part_size", "want an integer", `"abc"`}},
		{url: "s3://bkt/p?part_size=1000", want: []string{"part_size", "below S3's 5 MiB minimum"}},
		{url: "s3://bkt/p?part_size=-5", want: []string{"part_size", "negative"}},
		{url: "s3://bkt/p?concurrency=0", want: []string{"concurrency", "at least 1"}},
		{url: "s3://bkt/p?use_path_style=maybe", want: []string{"use_path_style", "true or false"}},
		{url: "s3://bkt/p?region=a&region=b", want: []string{"region given 2 times"}},
		{url: "s3://bkt/p?region=us-east-1", extra: map[string]any{"region": "eu-west-1"}, want: []string{"region", "both"}},
		{url: "s3://bkt/p?endpoint=localhost:9000", want: []string{"endpoint", "http://"}},
		{url: "s3://bkt/p?endpoint=http://user:pw@127.0.0.1:1", want: []string{"endpoint", "credentials"}},
		{url: "s3://user:hunter2@bkt/p", want: []string{"credentials in the URL", "s3://REDACTED@bkt/p"}},
		{url: "s3://bkt/p?endpoint=http%3A%2F%2Fuser%3Ahunter2%40127.0.0.1%3A1", want: []string{"endpoint", "credentials", "endpoint=http%3A%2F%2FREDACTED%40127.0.0.1"}},
		{url: "file://relative/path", want: []string{"absolute path", "file:///abs/path"}},
		{url: "file:relative/path", want: []string{"absolute path"}},
		{url: "file:///tmp/x?create_dir=1", is: pipeline.ErrUnknownOption, want: []string{"create_dir", "known: none"}},
		{url: "mem://box?x=1", is: pipeline.ErrUnknownOption, want: []string{"query parameter x"}},
		{url: "mem://box/./p", want: []string{`"."`}},
		{url: "gs://gbucket/p?prefix=x&anonymous=true", want: []string{"prefix", "URL path"}},
		{url: "gs://gbucket/p?bogus=1&anonymous=true", want: []string{"bogus"}},
		{url: "gs://", want: []string{"missing bucket name"}},
		{url: "azblob:///p", want: []string{"missing bucket name"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			tg, err := OpenTarget(t.Context(), reg, tt.url, tt.extra)
			if err == nil {
				tg.Close()
				t.Fatal("OpenTarget succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "open target ") {
				t.Errorf("error %q lacks the operation prefix", msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", msg, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error %q leaks a password", msg)
			}
		})
	}
}

// TestErrorsScrubbed checks that a backend error quoting its URL does not
// leak what Redact hides.
func TestErrorsScrubbed(t *testing.T) {
	sentinel := errors.New("sentinel")
	reg := pipeline.NewRegistry()
	reg.RegisterBackend(pipeline.BackendSpec{
		Scheme: "leaky",
		Open: func(_ context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
			return nil, fmt.Errorf("cannot open %s: %w", u, sentinel)
		},
	})
	_, err := OpenTarget(t.Context(), reg, "leaky://u:pw-hunter2@b/p?sig=abc%2Fdef&region=x", nil)
	if err == nil {
		t.Fatal("OpenTarget succeeded")
	}
	for _, secret := range []string{"hunter2", "abc%2Fdef", "abc/def"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q leaks %q", err, secret)
		}
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("scrubbing lost the wrapped error: %v", err)
	}
	if !strings.Contains(err.Error(), "region=x") {
		t.Errorf("error %q lost the harmless parts", err)
	}
}

// TestErrorsScrubbedNested checks that userinfo inside a query value (an
// S3 endpoint given in the URL) is scrubbed from a backend error that
// quotes the URL or the endpoint, escaped or not.
func TestErrorsScrubbedNested(t *testing.T) {
	reg := pipeline.NewRegistry()
	reg.RegisterBackend(pipeline.BackendSpec{
		Scheme: "leaky",
		Open: func(_ context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
			return nil, fmt.Errorf("cannot open %s with endpoint %s", u, u.Query().Get("endpoint"))
		},
	})
	_, err := OpenTarget(t.Context(), reg, "leaky://b/p?endpoint=http%3A%2F%2Fkeyid%3APASSWD8%40host%3A9000&region=x", nil)
	if err == nil {
		t.Fatal("OpenTarget succeeded")
	}
	for _, secret := range []string{"PASSWD8", "keyid"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q leaks %q", err, secret)
		}
	}
	if !strings.Contains(err.Error(), "http://REDACTED@host:9000") || !strings.Contains(err.Error(), "region=x") {
		t.Errorf("error %q lost the harmless parts", err)
	}
}

// TestObjectRoundTrip checks that every scheme's Target.ObjectURL opens
// back, through OpenObject, to the same bucket and key.
func TestObjectRoundTrip(t *testing.T) {
	endpoint := s3test.StartGoFakeS3(t)
	s3test.CreateBucket(t, endpoint, "bkt")
	gcstest.StartFakeGCS(t, "gbucket")
	dir := t.TempDir()
	reg := newRegistry()
	targets := []string{
		"s3://bkt", "s3://bkt/photos", "bkt/a/b", "s3://bkt/p?part_size=5242880",
		"s3://bkt/e?storage_class=STANDARD&use_path_style=true&endpoint=" + url.QueryEscape(endpoint),
		"gs://gbucket/photos?anonymous=true",
		"azblob://container/photos?storage_account=sluicetest",
		"file://" + dir, "file://" + dir + "/sub dir",
		"mem://", "mem://rt", "mem://rt/daily",
	}
	for _, raw := range targets {
		for _, name := range []string{"photos-20261129T042500Z.tar.zst.age", "nested/obj.gz", "with space.tar"} {
			t.Run(raw+"/"+name, func(t *testing.T) {
				tg, err := OpenTarget(t.Context(), reg, raw, nil)
				if err != nil {
					t.Fatalf("OpenTarget: %v", err)
				}
				defer tg.Close()
				if strings.HasPrefix(raw, "file://") {
					// An object's folder exists when it is restored.
					if err := os.MkdirAll(filepath.Dir(objectID(t, tg, name)), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				// The object URL carries what reaches the store (the
				// endpoint, gs's anonymous), not the write settings.
				objURL := tg.ObjectURL(name)
				tg2, name2, err := OpenObject(t.Context(), reg, objURL)
				if err != nil {
					t.Fatalf("OpenObject(%q): %v", objURL, err)
				}
				defer tg2.Close()
				if got, want := objectID(t, tg2, name2), objectID(t, tg, name); got != want {
					t.Errorf("object URL %q resolved to %q, want %q", objURL, got, want)
				}
				if tg2.ObjectURL(name2) != objURL {
					t.Errorf("object URL %q came back as %q", objURL, tg2.ObjectURL(name2))
				}
			})
		}
	}
}

// objectID identifies the object name names in tg: scheme, bucket and
// key, or for file targets the file's path.
func objectID(t *testing.T, tg *pipeline.Target, name string) string {
	u, err := url.Parse(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme == "file" {
		return filepath.Join(u.Path, tg.Key(name))
	}
	return u.Scheme + "://" + u.Host + "/" + tg.Key(name)
}

func TestOpenObjectFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	tg, name, err := OpenObject(t.Context(), reg, "file://"+dir+"/sub/obj.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if want := "file://" + dir + "/sub"; tg.URL != want || name != "obj.tar.zst" || tg.Prefix != "" {
		t.Errorf("got target %q prefix %q name %q, want %q, \"\", obj.tar.zst", tg.URL, tg.Prefix, name, want)
	}
	if err := tg.Bucket.WriteAll(t.Context(), tg.Key(name), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "obj.tar.zst")); err != nil {
		t.Errorf("object not at the path its URL names: %v", err)
	}
}

func TestOpenObjectErrors(t *testing.T) {
	reg := newRegistry()
	for _, raw := range []string{"s3://bkt/dir/", "s3://bkt", "mem://box/", "file:///", "s3://bkt/a/..", ""} {
		if tg, _, err := OpenObject(t.Context(), reg, raw); err == nil {
			tg.Close()
			t.Errorf("OpenObject(%q) succeeded", raw)
		} else if !strings.HasPrefix(err.Error(), "open ") {
			t.Errorf("OpenObject(%q): error %q lacks the operation prefix", raw, err)
		}
	}
}

// TestGoCloudTarget: the options of a gs or azblob target, from its URL
// or beside it in a config (extra), reach gocloud's opener as query
// parameters; its printed URL keeps those that locate it, without the
// ones carrying a credential.
func TestGoCloudTarget(t *testing.T) {
	tests := []struct {
		raw                      string
		extra                    map[string]any
		openURL, display, prefix string
	}{
		{"gs://bkt", nil, "gs://bkt", "gs://bkt", ""},
		{"gs://bkt/", nil, "gs://bkt", "gs://bkt", ""},
		{"gs://bkt/photos/2026", nil, "gs://bkt", "gs://bkt/photos/2026", "photos/2026/"},
		{"gs://bkt/p?universe_domain=x&anonymous=true", nil, "gs://bkt?universe_domain=x&anonymous=true", "gs://bkt/p?anonymous=true&universe_domain=x", "p/"},
		{"gs://bkt/p", map[string]any{"universe_domain": "x", "anonymous": true}, "gs://bkt?universe_domain=x&anonymous=true", "gs://bkt/p?anonymous=true&universe_domain=x", "p/"},
		{"gs://bkt/p?anonymous=1", nil, "gs://bkt?anonymous=true", "gs://bkt/p?anonymous=true", "p/"},
		{"azblob://ctr/p?protocol=http&domain=127.0.0.1:10000", nil, "azblob://ctr?protocol=http&domain=127.0.0.1:10000", "azblob://ctr/p?domain=127.0.0.1:10000&protocol=http", "p/"},
		{"azblob://ctr/p?protocol=http", map[string]any{"domain": "127.0.0.1:10000", "localemu": "true", "storage_account": "acct"}, "azblob://ctr?protocol=http&domain=127.0.0.1:10000&localemu=true&storage_account=acct", "azblob://ctr/p?domain=127.0.0.1:10000&localemu=true&protocol=http&storage_account=acct", "p/"},
		// A secret-looking value is not printed; the opener still gets it.
		{"gs://bkt/p?access_id=me&private_key_path=/k.pem", nil, "gs://bkt?access_id=me&private_key_path=/k.pem", "gs://bkt/p?access_id=me", "p/"},
		{"gs://bkt/p", map[string]any{"access_id": "me@x.example", "private_key_path": "/k.pem"}, "gs://bkt?access_id=me@x.example&private_key_path=/k.pem", "gs://bkt/p", "p/"},
		// So is a value carrying a credential: a URL with userinfo, a bare
		// user:pass@host, which the opener makes part of a URL.
		{"gs://bkt/p?universe_domain=http://u:PW@h.example&anonymous=true", nil, "gs://bkt?universe_domain=http://u:PW@h.example&anonymous=true", "gs://bkt/p?anonymous=true", "p/"},
		{"azblob://ctr/p?localemu=true&domain=u:PW@127.0.0.1:1&protocol=http", nil, "azblob://ctr?localemu=true&domain=u:PW@127.0.0.1:1&protocol=http", "azblob://ctr/p?localemu=true&protocol=http", "p/"},
		{"azblob://ctr/p", map[string]any{"localemu": true, "domain": "u:PW@127.0.0.1:1"}, "azblob://ctr?localemu=true&domain=u:PW@127.0.0.1:1", "azblob://ctr/p?localemu=true", "p/"},
		{"azblob://ctr/p?domain=u%40127.0.0.1:1", nil, "azblob://ctr?domain=u%40127.0.0.1:1", "azblob://ctr/p", "p/"},
		{"gs://bkt/p?universe_domain=https://h.example/%3Ftoken%3Dt", nil, "gs://bkt?universe_domain=https://h.example/%3Ftoken%3Dt", "gs://bkt/p", "p/"},
	}
	reg := newRegistry()
	for _, tt := range tests {
		spec, u, opts, err := checkTarget(reg, tt.raw, tt.extra)
		if err != nil {
			t.Errorf("%s %v: %v", tt.raw, tt.extra, err)
			continue
		}
		openURL, tg, err := gocloudTarget(u, spec.Options, opts)
		if err != nil {
			t.Errorf("%s %v: %v", tt.raw, tt.extra, err)
			continue
		}
		got, err := url.Parse(openURL)
		if err != nil {
			t.Fatal(err)
		}
		want, err := url.Parse(tt.openURL)
		if err != nil {
			t.Fatal(err)
		}
		sameOpen := got.Scheme == want.Scheme && got.Host == want.Host && got.Path == want.Path &&
			reflect.DeepEqual(got.Query(), want.Query())
		if !sameOpen || tg.URL != tt.display || tg.Prefix != tt.prefix {
			t.Errorf("%s %v: got %q, %q, %q; want %q, %q, %q", tt.raw, tt.extra, openURL, tg.URL, tg.Prefix, tt.openURL, tt.display, tt.prefix)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"s3://bucket/prefix", "s3://bucket/prefix"},
		{"bucket/prefix?region=eu-west-1", "bucket/prefix?region=eu-west-1"},
		{"s3://bucket/p?region=eu-west-1&part_size=8388608", "s3://bucket/p?region=eu-west-1&part_size=8388608"},
		// The user goes with the password: it may be an access key ID or a token.
		{"s3://user:pass@bucket/p", "s3://REDACTED@bucket/p"},
		{"s3://user@bucket/p", "s3://REDACTED@bucket/p"},
		// A query value that is a URL is redacted like one, then re-escaped.
		{"s3://b/p?endpoint=http%3A%2F%2Fu%3APASSWD8%40host&region=x", "s3://b/p?endpoint=http%3A%2F%2FREDACTED%40host&region=x"},
		{"s3://b/p?endpoint=http://u:pw@host:9000/", "s3://b/p?endpoint=http%3A%2F%2FREDACTED%40host%3A9000%2F"},
		{"s3://b/p?endpoint=https%3A%2F%2Fhost%2F%3Ftoken%3Dabc", "s3://b/p?endpoint=https%3A%2F%2Fhost%2F%3Ftoken%3DREDACTED"},
		{"s3://b/p?endpoint=http%3A%2F%2Fhost%3A9000&region=x", "s3://b/p?endpoint=http%3A%2F%2Fhost%3A9000&region=x"},
		{"s3://b/p?next=s3%3A%2F%2Fb%2Fq%3Fendpoint%3Dhttp%253A%252F%252Fu%253Apw%2540h", "s3://b/p?next=s3%3A%2F%2Fb%2Fq%3Fendpoint%3Dhttp%253A%252F%252FREDACTED%2540h"},
		// A bare authority with userinfo, as an azblob domain: no scheme.
		{"azblob://c/p?domain=u:PW@127.0.0.1:10000&protocol=http", "azblob://c/p?domain=REDACTED%40127.0.0.1%3A10000&protocol=http"},
		{"azblob://c/p?domain=u%3APW%40127.0.0.1%3A10000", "azblob://c/p?domain=REDACTED%40127.0.0.1%3A10000"},
		{"azblob://c/p?domain=tok@h", "azblob://c/p?domain=REDACTED%40h"},
		{"s3://b/p?next=s3%3A%2F%2Fb%2Fq%3Fdomain%3Du%253Apw%2540h", "s3://b/p?next=s3%3A%2F%2Fb%2Fq%3Fdomain%3DREDACTED%2540h"},
		{"azblob://c/p?domain=127.0.0.1:10000&x=@", "azblob://c/p?domain=127.0.0.1:10000&x=@"},
		{"s3://b/p?access_key=AKIA&secret=s3cr3t&token=t0k&key=k3y", "s3://b/p?access_key=REDACTED&secret=REDACTED&token=REDACTED&key=REDACTED"},
		{"s3://b/p?aws_secret_access_key=x&session_token=y&region=r", "s3://b/p?aws_secret_access_key=REDACTED&session_token=REDACTED&region=r"},
		{"https://h/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=abc&X-Amz-Security-Token=tt&X-Amz-Date=1",
			"https://h/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Date=1"},
		{"azblob://c/p?sv=2022-11-02&se=2026&sig=a%2Bb%3D", "azblob://c/p?sv=2022-11-02&se=2026&sig=REDACTED"},
		{"azblob://c/p?sas=xyz&signature=s", "azblob://c/p?sas=REDACTED&signature=REDACTED"},
		{"gs://b/p?private_key_path=/k.pem&password=pw&Api-Key=1", "gs://b/p?private_key_path=REDACTED&password=REDACTED&Api-Key=REDACTED"},
		{"s3://b/p?secret", "s3://b/p?secret"},
		{"s3://b/p?token=abc#frag", "s3://b/p?token=REDACTED#frag"},
		{"s3://b/p#frag?token=abc", "s3://b/p#frag?token=REDACTED"},
		{"https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=REDACTED&state=1"},
		{"s3://u:pw@b/%zz?secret=hunter2&region=r", "s3://REDACTED@b/%zz?REDACTED"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestScrubQueryValueCredentials checks that scrub removes a password
// carried in a query value, or in an option given beside the URL, from a
// library's error, in the forms a library may quote it: a bare
// user:pass@host turned into a URL, a nested URL, raw or escaped, and a
// secret value escaped otherwise than it was typed.
func TestScrubQueryValueCredentials(t *testing.T) {
	tests := []struct {
		raw   string
		extra map[string]any
		msg   string
	}{
		{"azblob://c/p?domain=u:SECRETPW@127.0.0.1:1&protocol=http", nil, `Put "http://u:SECRETPW@127.0.0.1:1/acct/c": refused`},
		{"azblob://c/p?domain=u%3ASECRETPW%40127.0.0.1%3A1", nil, "bad domain u%3ASECRETPW%40127.0.0.1%3A1"},
		{"gs://b/p?universe_domain=http://u:SECRETPW@h.example", nil, `Get "http://u:SECRETPW@h.example/b": refused`},
		{"gs://b/p?private_key_path=/keys/SECRETPW.pem", nil, "open bucket gs://b?private_key_path=%2Fkeys%2FSECRETPW.pem: open /keys/SECRETPW.pem: no such file"},
		{"gs://b/p", map[string]any{"private_key_path": "/keys/SECRETPW.pem"}, "open bucket gs://b?private_key_path=%2Fkeys%2FSECRETPW.pem: open /keys/SECRETPW.pem: no such file"},
		{"azblob://c/p", map[string]any{"domain": "u:SECRETPW@127.0.0.1:1"}, `Put "http://u:SECRETPW@127.0.0.1:1/acct/c": refused`},
	}
	for _, tt := range tests {
		got := scrub(errors.New(tt.msg), tt.raw, tt.extra).Error()
		if strings.Contains(got, "SECRETPW") {
			t.Errorf("scrub(%q) for %s %v = %q: the secret is left", tt.msg, tt.raw, tt.extra, got)
		}
	}
}

// TestChoosePartSize checks the part size of a single target's upload
// under the default budget; TestPlanUpload covers shared budgets.
func TestChoosePartSize(t *testing.T) {
	const gib, tib = int64(1) << 30, int64(1) << 40
	tests := []struct {
		name           string
		size, explicit int64
		part           int64
		err            string
	}{
		{name: "empty", size: 0, part: 8 * mib},
		{name: "1 MiB", size: mib, part: 8 * mib},
		{name: "1 GiB", size: gib, part: 8 * mib},
		{name: "72 GiB", size: 72 * gib, part: 9 * mib},
		{name: "100 GiB", size: 100 * gib, part: 12 * mib},
		{name: "1 TiB", size: tib, part: 117 * mib},
		{name: "5 TiB", size: 5 * tib, part: 583 * mib},
		{name: "unknown", size: -1, part: 16 * mib},
		{name: "explicit unknown", size: -1, explicit: 5 * mib, part: 5 * mib},
		{name: "explicit known", size: gib, explicit: 64 * mib, part: 64 * mib},
		{name: "explicit odd", size: -1, explicit: 6*mib + 1, part: 6*mib + 1},
		{name: "explicit max", size: -1, explicit: 5 * gib, part: 5 * gib},
		{name: "explicit too small", size: -1, explicit: 5*mib - 1, err: "below S3's 5 MiB minimum"},
		{name: "explicit tiny", size: 10, explicit: 1, err: "below S3's 5 MiB minimum"},
		{name: "explicit too large", size: -1, explicit: 5*gib + 1, err: "above S3's 5 GiB maximum"},
		{name: "explicit negative", size: -1, explicit: -1, err: "negative"},
		{name: "explicit too small for size", size: 100 * gib, explicit: 5 * mib, err: "needs more than 10000 parts"},
		{name: "beyond S3", size: 50 * tib, err: "needs more than 10000 parts of 5 GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := planUpload(tt.size, tt.explicit, defaultConcurrency, 0)
			part, limit := plan.part, plan.limit
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got part %d, err %v; want an error containing %q", part, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if part != tt.part {
				t.Errorf("part = %d (%s), want %d (%s)", part, fmtBytes(part), tt.part, fmtBytes(tt.part))
			}
			if limit != part*maxParts {
				t.Errorf("limit = %d, want part × %d = %d", limit, maxParts, part*maxParts)
			}
			if tt.size > 0 && tt.explicit == 0 && tt.size > part*partBudget {
				t.Errorf("%d parts of %d do not hold %d bytes within the 9000-part budget", partBudget, part, tt.size)
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	tune := &s3Tuning{concurrency: 3}
	called := false
	wo := &blob.WriterOptions{BeforeWrite: func(func(any) bool) error { called = true; return nil }}
	limit, err := tune.prepare(wo, pipeline.Write{Size: 100 << 30})
	if err != nil {
		t.Fatal(err)
	}
	// 12 MiB × (3 + 2) would exceed the 48 MiB upload budget: 2 in flight.
	if wo.BufferSize != 12*mib || wo.MaxConcurrency != 2 || limit != 12*mib*maxParts {
		t.Errorf("got BufferSize %d, MaxConcurrency %d, limit %d", wo.BufferSize, wo.MaxConcurrency, limit)
	}
	if err := wo.BeforeWrite(func(any) bool { return false }); err != nil || !called {
		t.Errorf("the caller's BeforeWrite was not chained (called %v, err %v)", called, err)
	}
	tune.partSize = 5 * mib
	if _, err := tune.prepare(&blob.WriterOptions{}, pipeline.Write{Size: 100 << 30}); err == nil {
		t.Error("prepare accepted an object too large for the explicit part size")
	}
}

func TestMemShared(t *testing.T) {
	reg := newRegistry()
	ctx := t.Context()
	a, err := OpenTarget(ctx, reg, "mem://shared-test/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Bucket.WriteAll(ctx, a.Key("obj"), []byte("hello"), &blob.WriterOptions{Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := OpenTarget(ctx, reg, "mem://shared-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.Bucket.ReadAll(ctx, "p/obj")
	if err != nil || string(got) != "hello" {
		t.Fatalf("after closing the writer's target, read %q, %v", got, err)
	}
	attrs, err := b.Bucket.Attributes(ctx, "p/obj")
	if err != nil || attrs.Metadata["k"] != "v" {
		t.Errorf("metadata lost: %v, %v", attrs, err)
	}
	other, err := OpenTarget(ctx, reg, "mem://shared-test-other", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ok, _ := other.Bucket.Exists(ctx, "p/obj"); ok {
		t.Error("another mem name sees the object")
	}
	// Errors pass through the shared bucket once, not twice.
	_, err = b.Bucket.NewReader(ctx, "p/missing", nil)
	if gcerrors.Code(err) != gcerrors.NotFound || strings.Count(err.Error(), "code=NotFound") != 1 {
		t.Errorf("missing key: %v", err)
	}
}

// TestFileNoSidecar: a file target writes only the object, no ".attrs"
// sidecar (and so no MD5 pass over its bytes).
func TestFileNoSidecar(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	tg, err := OpenTarget(ctx, newRegistry(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Bucket.WriteAll(ctx, "obj", []byte("x"), &blob.WriterOptions{Metadata: map[string]string{"sluice-stages": "zstd"}}); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "obj" {
		t.Errorf("folder holds %q, want only \"obj\"", names)
	}
}

// TestFileOldSidecars: folders written by earlier versions, which kept
// metadata in "<name>.attrs" sidecars, still read: the metadata comes
// back, listings hide the sidecars, and deleting an object removes its
// sidecar.
func TestFileOldSidecars(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	old, err := fileblob.OpenBucket(dir, nil) // the earlier default: sidecars
	if err != nil {
		t.Fatal(err)
	}
	if err := old.WriteAll(ctx, "obj", []byte("x"), &blob.WriterOptions{Metadata: map[string]string{"sluice-stages": "zstd"}}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if _, err := os.Stat(filepath.Join(dir, "obj.attrs")); err != nil {
		t.Fatalf("the old layout has no sidecar: %v", err)
	}

	tg, err := OpenTarget(ctx, newRegistry(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	attrs, err := tg.Bucket.Attributes(ctx, "obj")
	if err != nil || attrs.Metadata["sluice-stages"] != "zstd" {
		t.Errorf("metadata from the old sidecar: %v, %v", attrs, err)
	}
	var keys []string
	it := tg.Bucket.List(nil)
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			break
		}
		keys = append(keys, obj.Key)
	}
	if len(keys) != 1 || keys[0] != "obj" {
		t.Errorf("listing = %q, want only \"obj\"", keys)
	}
	if err := tg.Bucket.Delete(ctx, "obj"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "obj.attrs")); !os.IsNotExist(err) {
		t.Errorf("sidecar after delete: %v", err)
	}
}
