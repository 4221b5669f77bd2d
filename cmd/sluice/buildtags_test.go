package main

import (
	"os/exec"
	"strings"
	"testing"
)

// shippedTags are the build tags of the shipped binary (the Makefile's
// GOFLAGS, sluice-bench's build).
const shippedTags = "disable_grpc_modules"

// TestShippedBuildLeavesOutDirectPath checks that the shipped build tags
// still keep the GCS library's gRPC DirectPath dependencies (xDS and
// envoy, about 14 MiB of resident memory per run) out of sluice. A
// dependency upgrade that links them regardless makes this fail.
func TestShippedBuildLeavesOutDirectPath(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", shippedTags, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 || !strings.Contains(string(out), "gocloud.dev/blob/gcsblob\n") {
		t.Fatalf("go list -deps gave %d packages without gcsblob: not sluice's dependencies", len(deps))
	}
	for _, p := range deps {
		for _, heavy := range []string{"github.com/envoyproxy/", "github.com/cncf/xds/", "google.golang.org/grpc/xds"} {
			if strings.HasPrefix(p, heavy) {
				t.Errorf("built with -tags %s, sluice still links %s", shippedTags, p)
			}
		}
	}
}
