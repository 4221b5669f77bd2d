package main

import (
	"os"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// damages are the ways a stored object is spoiled.
var damages = []struct {
	name string
	fn   func([]byte) []byte
}{
	{"flipped middle byte", func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }},
	{"flipped header byte", func(b []byte) []byte { b[min(len(b)-1, 20)] ^= 0x01; return b }},
	{"flipped last byte", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
	{"truncated to a half", func(b []byte) []byte { return b[:len(b)/2] }},
	{"truncated by one byte", func(b []byte) []byte { return b[:len(b)-1] }},
	{"garbage appended", func(b []byte) []byte { return append(b, "trailing garbage"...) }},
	{"emptied", func(b []byte) []byte { return nil }},
}

// TestRestoreDamagedEveryChain damages objects made with every
// compression and with and without age, for a directory (tar) and a
// stream, with the manifest kept (sluice's own check) and removed (then
// only the formats' own checks remain). Every restore must fail with an
// error naming the object, exit 1, and leave nothing at the destination.
func TestRestoreDamagedEveryChain(t *testing.T) {
	key, rec := keypair(t)
	tree := makeTree(t)
	stream := randomBytes(t, 300<<10)
	chains := []struct {
		name  string
		flags []string
	}{
		{"zstd+age", []string{"--compress", "zstd", "-r", rec}},
		{"gzip+age", []string{"--compress", "gzip", "-r", rec}},
		{"s2+age", []string{"--compress", "s2", "-r", rec}},
		{"none+age", []string{"--compress", "none", "-r", rec}},
		{"zstd", []string{"--compress", "zstd", "--encrypt", "none"}},
		{"gzip", []string{"--compress", "gzip", "--encrypt", "none"}},
		{"s2", []string{"--compress", "s2", "--encrypt", "none"}},
		{"none", []string{"--compress", "none", "--encrypt", "none"}},
	}
	tried := 0
	for _, ch := range chains {
		for _, src := range []string{"tree", "stream"} {
			for _, keepManifest := range []bool{true, false} {
				for _, d := range damages {
					if ch.name == "none" && !keepManifest && (src == "stream" || d.name == "flipped middle byte" || d.name == "garbage appended") {
						// Without a manifest a plain stream has no check at
						// all, and plain tar only checksums its headers (and
						// ignores what follows its end marker, as tar does).
						continue
					}
					manifest := "with manifest"
					if !keepManifest {
						manifest = "no manifest"
					}
					t.Run(ch.name+"/"+src+"/"+manifest+"/"+d.name, func(t *testing.T) {
						tried++
						store := t.TempDir()
						args := append([]string{"backup", "-", "--to", "file://" + store}, ch.flags...)
						var in *strings.Reader
						if src == "tree" {
							args[1] = tree
						} else {
							in = strings.NewReader(string(stream))
						}
						var url string
						if in != nil {
							url = singleURL(t, mustCLI(t, in, args...))
						} else {
							url = singleURL(t, mustCLI(t, nil, args...))
						}
						path := strings.TrimPrefix(url, "file://")
						b, err := os.ReadFile(path)
						if err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(path, d.fn(b), 0o644); err != nil {
							t.Fatal(err)
						}
						if !keepManifest {
							if err := os.Remove(path + pipeline.ManifestSuffix); err != nil {
								t.Fatal(err)
							}
						}
						assertRestoreFails(t, url, key)
					})
				}
			}
		}
	}
	t.Logf("damaged objects refused: %d", tried)
}
