package backends

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestInvalidTarget: errors about a URL or its options wrap
// ErrInvalidTarget, from CheckTarget (which does no I/O) and OpenTarget
// alike; a target that is well formed but cannot be opened does not.
func TestInvalidTarget(t *testing.T) {
	reg := newRegistry()
	invalid := []struct {
		url   string
		extra map[string]any
	}{
		{url: ""},
		{url: "/abs/path"},
		{url: "ftp://host/p"},
		{url: "file://relative/path"},
		{url: "file:///tmp/x?bogus=1"},
		{url: "file://user:pw@/tmp/x"},
		{url: "mem://x/a/../b"},
		{url: "s3://bkt/p?part_size=1024"},
		{url: "s3://bkt/p?concurrency=0"},
		{url: "s3://bkt/p?unknown=1"},
		{url: "s3://bkt/p", extra: map[string]any{"storage_class": "NOPE"}},
		{url: "s3://bkt/p?part_size=8388608", extra: map[string]any{"part_size": 8388608}},
		{url: "s3://bkt/p?endpoint=not%20a%20url"},
		{url: "s3:///p"},
		{url: "gs://bkt/p?prefix=x"},
		{url: "azblob://c/a//b"},
		{url: "gs://bkt/p?anonymos=true"},
		{url: "gs://bkt/p?anonymous=maybe"},
		{url: "azblob://c/p?storage_acount=x"},
		{url: "azblob://c/p?cdn=2"},
		{url: "azblob://c/p?domain=a&domain=b"},
	}
	for _, tc := range invalid {
		err := CheckTarget(reg, tc.url, tc.extra)
		if !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("CheckTarget(%q, %v) = %v, want ErrInvalidTarget", tc.url, tc.extra, err)
		}
		if _, err := OpenTarget(t.Context(), reg, tc.url, tc.extra); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("OpenTarget(%q, %v) = %v, want ErrInvalidTarget", tc.url, tc.extra, err)
		}
	}
	if _, _, err := OpenObject(t.Context(), reg, "file:///tmp/dir/"); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("OpenObject of a folder URL: %v, want ErrInvalidTarget", err)
	}

	// Well formed, but the folder cannot be created (under a file): only
	// opening finds out, and that is not the URL's fault.
	const unopenable = "file:///dev/null/sub"
	if err := CheckTarget(reg, unopenable, nil); err != nil {
		t.Fatalf("CheckTarget(%s): %v", unopenable, err)
	}
	_, err := OpenTarget(t.Context(), reg, unopenable, nil)
	if err == nil || errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("OpenTarget(%s) = %v, want an error that is not ErrInvalidTarget", unopenable, err)
	}
	for _, ok := range []string{"file:///tmp/x", "mem://x/p", "s3://bkt/p?part_size=8388608&region=eu-west-1", "bkt/p", "gs://bkt/p", "azblob://c/p",
		"gs://bkt/p?anonymous=true&universe_domain=example.com", "azblob://c/p?storage_account=a&localemu=1&protocol=http&domain=d&cdn=false"} {
		if err := CheckTarget(reg, ok, nil); err != nil {
			t.Errorf("CheckTarget(%q): %v", ok, err)
		}
	}
}

// TestFileFolderCreatedByBackupOnly: opening a file:// target whose folder
// is missing creates nothing; the folder appears when a backup calls
// Create. Opening it to read fails, naming the folder, and creates
// nothing either.
func TestFileFolderCreatedByBackupOnly(t *testing.T) {
	reg := newRegistry()
	dir := filepath.Join(t.TempDir(), "a", "b")
	tg, err := OpenTarget(t.Context(), reg, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("opening created %s (%v)", filepath.Dir(dir), err)
	}
	if tg.Bucket != nil || tg.Create == nil {
		t.Fatal("a missing folder's target should have no bucket until Create")
	}
	for _, open := range []func() error{
		func() error { _, err := OpenExisting(t.Context(), reg, "file://"+dir, nil); return err },
		func() error { _, _, err := OpenObject(t.Context(), reg, "file://"+dir+"/obj.zst"); return err },
	} {
		err := open()
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "folder "+dir+" does not exist") {
			t.Fatalf("reading a missing folder: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading created %s (%v)", filepath.Dir(dir), err)
	}
	if err := tg.Create(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := tg.Bucket.WriteAll(t.Context(), "obj", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "obj")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenExisting(t.Context(), reg, "file://"+dir+"/obj", nil); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Fatalf("a file as a folder: %v", err)
	}
}

// TestFileWriteNewIsExclusive: of many writers racing to create one key
// with WriteNew, exactly one succeeds and the others fail with ErrExists;
// what is stored is the winner's. (fileblob's IfNotExist checks, then
// renames, so two of them can both succeed.)
func TestFileWriteNewIsExclusive(t *testing.T) {
	dir := t.TempDir()
	tg, err := OpenTarget(t.Context(), newRegistry(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	for _, key := range []string{"a/obj.sluice.claim", `b\c d.sluice.claim`} {
		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = tg.WriteNew(t.Context(), key, []byte(strconv.Itoa(i))) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatalf("%s: writers %d and %d both created it", key, winner, i)
			case !errors.Is(err, pipeline.ErrExists):
				t.Fatalf("%s: writer %d: %v, want ErrExists", key, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%s: no writer created it", key)
		}
		got, err := tg.Bucket.ReadAll(t.Context(), key)
		if err != nil || string(got) != strconv.Itoa(winner) {
			t.Fatalf("%s holds %q (%v), want writer %d's", key, got, err, winner)
		}
	}
	// A key fileblob would escape (no name sluice makes) falls back to
	// its conditional write.
	if err := tg.WriteNew(t.Context(), "odd//key", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := tg.WriteNew(t.Context(), "odd//key", []byte("2")); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("second write of odd//key: %v, want FailedPrecondition", err)
	}
}

// TestGocloudQueryMatchesOpeners: every option the gs and azblob backends
// declare, in the URL's query, passes CheckTarget and is a query
// parameter gocloud's opener takes, so the options cannot drift into
// passing what the opener refuses. The openers reach a server that
// answers every request with 404, so opening fails at once with a
// missing bucket, which is not a refused parameter.
func TestGocloudQueryMatchesOpeners(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	t.Setenv("AZURE_STORAGE_ACCOUNT", "acct")
	t.Setenv("AZURE_STORAGE_KEY", "a2V5")
	t.Setenv("AZURE_STORAGE_DOMAIN", host)
	t.Setenv("AZURE_STORAGE_PROTOCOL", "http")
	reg := newRegistry()
	for _, scheme := range []string{"gs", "azblob"} {
		spec, err := reg.Backend(scheme)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range spec.Options {
			value := host
			switch {
			case o.Type == pipeline.Bool:
				value = "false"
			case o.Name == "protocol":
				value = "http"
			}
			u := scheme + "://bkt/p?" + o.Name + "=" + value
			if err := CheckTarget(reg, u, nil); err != nil {
				t.Errorf("CheckTarget(%s): %v", u, err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			tg, err := OpenTarget(ctx, reg, u, nil)
			cancel()
			if err != nil && strings.Contains(err.Error(), "query parameter") {
				t.Errorf("gocloud refuses %s: %v", u, err)
			}
			if err == nil {
				tg.Close()
			}
		}
		u := scheme + "://bkt/p?surely_unknown=1"
		if _, err := OpenTarget(t.Context(), reg, u, nil); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("OpenTarget(%s) = %v, want ErrInvalidTarget", u, err)
		}
	}
}

// TestUnreachableStoreFailsAtOpen: a GCS or Azure endpoint that refuses
// connections fails the target when it opens, naming the bucket (an
// Azure container), after a bounded number of attempts; the GCS client
// alone would retry until the context ends, which for a backup is never.
func TestUnreachableStoreFailsAtOpen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", closed)
	t.Setenv("AZURE_STORAGE_ACCOUNT", "acct")
	t.Setenv("AZURE_STORAGE_KEY", "a2V5")
	t.Setenv("AZURE_STORAGE_DOMAIN", closed)
	t.Setenv("AZURE_STORAGE_PROTOCOL", "http")
	t.Setenv("AZURE_STORAGE_IS_LOCAL_EMULATOR", "true")
	reg := newRegistry()
	for u, want := range map[string]string{
		"gs://bkt/p":     `cannot reach bucket "bkt"`,
		"azblob://bkt/p": `cannot reach container "bkt"`,
		// A name that does not resolve (a mistyped account or domain),
		// which gocloud codes as a missing container.
		"azblob://bkt/p?domain=sluice-test.invalid": `cannot reach container "bkt"`,
	} {
		tg, err := OpenTarget(t.Context(), reg, u, nil)
		if err == nil {
			tg.Close()
			t.Errorf("OpenTarget(%s) with no store listening: no error", u)
			continue
		}
		if errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), want) || strings.Count(err.Error(), "blob (") > 1 {
			t.Errorf("OpenTarget(%s) = %v, want a store error naming the bucket, told once", u, err)
		}
	}
}

// TestTargetPlace: targets that differ only in how the store is reached
// (region, profile, path style, protocol, credentials), in how they are
// written (a bare bucket, a trailing "/", an option in the URL or beside
// it, localemu=1 or true) or in write settings are one place; another
// scheme, bucket, prefix, endpoint, account, domain or universe is
// another. A file:// folder is one place by its real path.
func TestTargetPlace(t *testing.T) {
	reg := newRegistry()
	const e = "http://127.0.0.1:57123"
	type target struct {
		url   string
		extra map[string]any
	}
	dir := t.TempDir()
	if err := os.Symlink(dir, dir+"-link"); err != nil {
		t.Fatal(err)
	}
	same := [][2]target{
		{{url: "s3://b/d?endpoint=" + e}, {url: "s3://b/d?endpoint=" + e + "&region=us-east-1"}},
		{{url: "s3://b/d?endpoint=" + e}, {url: "s3://b/d/", extra: map[string]any{"endpoint": e + "/"}}},
		{{url: "s3://b/d?endpoint=" + e}, {url: "s3://b/d?endpoint=HTTP://127.0.0.1:57123&profile=p&use_path_style=true&part_size=8388608"}},
		{{url: "s3://b/d"}, {url: "b/d?region=eu-west-1&storage_class=STANDARD_IA"}},
		{{url: "gs://b/p"}, {url: "gs://b/p/?anonymous=true&access_id=x"}},
		{{url: "gs://b/p?universe_domain=u.example"}, {url: "gs://b/p", extra: map[string]any{"universe_domain": "U.example/", "anonymous": true}}},
		{{url: "azblob://c/p?localemu=1&domain=127.0.0.1:10000"}, {url: "azblob://c/p?localemu=true&domain=127.0.0.1:10000&protocol=http"}},
		{{url: "azblob://c/p?storage_account=a"}, {url: "azblob://c/p?storage_account=A&protocol=https"}},
		{{url: "azblob://c/p?localemu=1&domain=127.0.0.1:10000"}, {url: "azblob://c/p", extra: map[string]any{"localemu": true, "domain": "127.0.0.1:10000"}}},
		{{url: "mem://"}, {url: "mem://default/"}},
		{{url: "file://" + dir}, {url: "file://" + dir + "-link/"}},
		{{url: "file://" + dir + "/new/sub"}, {url: "file://" + dir + "-link/new/sub"}},
	}
	other := [][2]target{
		{{url: "s3://b/d?endpoint=" + e}, {url: "s3://b/d"}},
		{{url: "s3://b/d?endpoint=" + e}, {url: "s3://b/d?endpoint=http://127.0.0.1:57124"}},
		{{url: "s3://b/d"}, {url: "s3://b/e"}},
		{{url: "s3://b/d"}, {url: "s3://c/d"}},
		{{url: "s3://b/d"}, {url: "gs://b/d"}},
		{{url: "s3://b/d"}, {url: "s3://b"}},
		{{url: "gs://b/p"}, {url: "gs://b/p?universe_domain=u.example"}},
		{{url: "azblob://c/p?domain=127.0.0.1:10000"}, {url: "azblob://c/p?domain=127.0.0.1:10001"}},
		{{url: "azblob://c/p?storage_account=a"}, {url: "azblob://c/p?storage_account=b"}},
		{{url: "azblob://c/p?localemu=true"}, {url: "azblob://c/p"}},
		{{url: "azblob://c/p?cdn=true"}, {url: "azblob://c/p?cdn=false"}},
		{{url: "azblob://c/p"}, {url: "azblob://c/p", extra: map[string]any{"storage_account": "b"}}},
		{{url: "mem://a"}, {url: "mem://b"}},
		{{url: "file://" + dir}, {url: "file://" + dir + "/sub"}},
	}
	place := func(tg target) string {
		t.Helper()
		p, err := TargetPlace(reg, tg.url, tg.extra)
		if err != nil {
			t.Fatalf("TargetPlace(%q, %v): %v", tg.url, tg.extra, err)
		}
		return p
	}
	for _, pair := range same {
		if a, b := place(pair[0]), place(pair[1]); a != b {
			t.Errorf("%v and %v: places %q and %q, want one", pair[0], pair[1], a, b)
		}
	}
	for _, pair := range other {
		if a, b := place(pair[0]), place(pair[1]); a == b {
			t.Errorf("%v and %v: one place %q, want two", pair[0], pair[1], a)
		}
	}
	if _, err := TargetPlace(reg, "s3://b/p?part_size=1", nil); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("TargetPlace of a bad option: %v, want ErrInvalidTarget", err)
	}
}
