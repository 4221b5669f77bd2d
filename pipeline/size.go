package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a byte size such as 1048576, 512MiB, 40GB or 1TiB:
// a non-negative number with an optional binary (KiB, K, ...) or decimal
// (KB, ...) unit.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsNaN(n) || strings.ContainsAny(t, "_xXpP") {
		return 0, fmt.Errorf("%q is not a size (try 512MiB or 40GB)", s)
	}
	// 2^63 and above do not fit; float64 rounds the largest int64 up to it.
	if v := n * float64(mult); v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large a size (at most 8EiB)", s)
	}
	return int64(n * float64(mult)), nil
}

// MinRate is the lowest bandwidth limit, in bytes per second.
const MinRate = 1 << 10

// ParseRate parses a byte rate such as 10MiB, 10MiB/s or 500K (bytes per
// second; see [ParseSize]), at least [MinRate]. 0, "off" and "none" are
// 0: no limit, which lifts a limit set elsewhere (a flag over a config
// key, a pipeline over the defaults).
func ParseRate(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "none":
		return 0, nil
	}
	n, err := ParseSize(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
	if err != nil {
		return 0, fmt.Errorf("%q is not a rate (try 10MiB, per second, or 0 for no limit)", s)
	}
	if err := checkRate(n); err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return n, nil
}

// checkRate refuses a rate above 0 (no limit) and below [MinRate].
func checkRate(n int64) error {
	if n != 0 && n < MinRate {
		return fmt.Errorf("at least 1KiB per second, or 0 for no limit")
	}
	return nil
}
