package age_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	agetest "c2sp.org/CCTV/age"
	"filippo.io/age"
	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
	_ "github.com/sluice-backup/sluice/stages/age"
)

// cctvVector is one C2SP CCTV age test vector.
type cctvVector struct {
	name        string
	expect      string // success, no match, HMAC failure, header failure, payload failure, armor failure
	payloadHash string // hex SHA-256 of the plaintext, if given
	identities  []string
	passphrase  string
	file        []byte
}

func parseCCTV(t *testing.T, name string, b []byte) cctvVector {
	t.Helper()
	v := cctvVector{name: name}
	compressed := false
	for {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			t.Fatalf("%s: no payload", name)
		}
		b = rest
		if len(line) == 0 {
			break
		}
		key, value, _ := strings.Cut(string(line), ": ")
		switch key {
		case "expect":
			v.expect = value
		case "payload":
			v.payloadHash = value
		case "identity":
			v.identities = append(v.identities, value)
		case "passphrase":
			v.passphrase = value
		case "compressed":
			compressed = value == "zlib"
		case "armored", "file key", "comment":
		default:
			t.Fatalf("%s: unknown header %q", name, key)
		}
	}
	v.file = b
	if compressed {
		r, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if v.file, err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// TestCCTVVectors runs every C2SP CCTV age vector through sluice's
// restore path: the vector is stored as an object on a mem:// target,
// recorded as age-encrypted (as sluice records its own objects), and
// restored to a file with the vector's identities or passphrase.
//
// Outcome classes: "success" must restore the payload with the given
// SHA-256; "no match" must fail with [pipeline.ErrNoIdentity]; every other
// class (HMAC, header, payload, armor failure) must fail with
// [pipeline.ErrIntegrity]. A failed restore must leave nothing at the
// destination. Vectors that should succeed are also restored with format
// detection (no recorded stages).
func TestCCTVVectors(t *testing.T) {
	entries, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	target, err := backends.OpenTarget(ctx, pipeline.Default, "mem://cctv", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	counts := map[string]int{}
	for _, e := range entries {
		b, err := fs.ReadFile(agetest.Vectors, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := parseCCTV(t, e.Name(), b)
		counts[v.expect]++
		t.Run(v.name, func(t *testing.T) {
			keys := cctvKeys(t, v)
			recorded := map[string]string{pipeline.MetaStages: "age"}
			restoreCCTV(t, target, v, keys, recorded, v.name+".age")
			if v.expect == "success" {
				restoreCCTV(t, target, v, keys, nil, v.name+".detected")
			}
		})
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	t.Logf("CCTV age vectors: %d (%v)", total, counts)
	if total < 100 {
		t.Fatalf("only %d vectors found", total)
	}
}

// cctvKeys writes the vector's identities and passphrase to files, as a
// user gives them. A vector with neither (an unparsable file) gets an
// unrelated identity, so the failure tested is the file's, not a missing
// key's.
func cctvKeys(t *testing.T, v cctvVector) pipeline.Keys {
	dir := t.TempDir()
	opts := map[string]any{}
	if len(v.identities) == 0 && v.passphrase == "" {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		v.identities = []string{id.String()}
	}
	if len(v.identities) > 0 {
		p := filepath.Join(dir, "identities")
		if err := os.WriteFile(p, []byte(strings.Join(v.identities, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		opts["identity_file"] = []string{p}
	}
	if v.passphrase != "" {
		p := filepath.Join(dir, "passphrase")
		if err := os.WriteFile(p, []byte(v.passphrase+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		opts["passphrase_file"] = p
	}
	return pipeline.Keys{"age": opts}
}

func restoreCCTV(t *testing.T, target *pipeline.Target, v cctvVector, keys pipeline.Keys, meta map[string]string, name string) {
	t.Helper()
	ctx := context.Background()
	if err := target.Bucket.WriteAll(ctx, target.Key(name), v.file, &blob.WriterOptions{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	dec := &pipeline.Decoder{Keys: keys}
	_, err := dec.RestoreTo(ctx, target, name, dest, nil)
	switch v.expect {
	case "success":
		if err != nil {
			t.Fatalf("%s: restore failed: %v", name, err)
		}
		got, err := os.ReadFile(dest)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(got); v.payloadHash != "" && hex.EncodeToString(sum[:]) != v.payloadHash {
			t.Fatalf("%s: payload SHA-256 %x, want %s", name, sum, v.payloadHash)
		}
		return
	case "no match":
		if !errors.Is(err, pipeline.ErrNoIdentity) {
			t.Fatalf("%s: got %v, want ErrNoIdentity", name, err)
		}
	default:
		if !errors.Is(err, pipeline.ErrIntegrity) {
			t.Fatalf("%s (%s): got %v, want ErrIntegrity", name, v.expect, err)
		}
	}
	if _, err := os.Lstat(dest); err == nil {
		t.Fatalf("%s: failed restore left %s", name, dest)
	}
	if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) > 0 {
		t.Fatalf("%s: failed restore left %v", name, left)
	}
}
