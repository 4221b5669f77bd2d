package pipeline

import (
	"strings"
	"testing"
)

func TestParseUmask(t *testing.T) {
	for text, want := range map[string]uint32{
		"Name:\tsluice\nUmask:\t0027\nState:\tR (running)\n": 0o027,
		"Umask:\t0002\n":     0o002,
		"Umask:\t0777\n":     0o777,
		"Name:\tsluice\n":    0o022, // kernels before 4.7
		"Umask:\tnonsense\n": 0o022,
		"":                   0o022,
	} {
		if got := parseUmask(strings.NewReader(text)); uint32(got) != want {
			t.Errorf("parseUmask(%q) = %03o, want %03o", text, got, want)
		}
	}
}
