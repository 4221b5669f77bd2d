package main

import (
	"regexp"
	"testing"
)

// TestBucketName checks that target names suit every store: Azure's
// container rules are the strictest (3-63 characters, lowercase letters,
// digits, single hyphens, no hyphen at either end), and names differ
// across sizes and targets.
func TestBucketName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9](-?[a-z0-9])+$`)
	seen := map[string]bool{}
	for _, size := range []int64{0, 1 << 20, 512 << 20, 4 << 30, 1 << 62} {
		for i := range 3 {
			name := bucketName(size, i)
			if len(name) < 3 || len(name) > 63 || !valid.MatchString(name) {
				t.Errorf("bucketName(%d, %d) = %q: not a valid container name", size, i, name)
			}
			if seen[name] {
				t.Errorf("bucketName(%d, %d) = %q: used twice", size, i, name)
			}
			seen[name] = true
		}
	}
}
