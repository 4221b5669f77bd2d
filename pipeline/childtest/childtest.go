// Package childtest runs a test again in a child process of its own test
// binary, changed in one way the test cannot change for itself alone: as
// another user, or under a lower limit of the whole process. It is for
// tests only.
package childtest

import (
	"os/exec"
	"strings"
	"testing"
)

// Rerun runs the calling test, which must be a top-level test, again in a
// child process of the test binary bin, which setup prepares, and fails t
// unless the test passes there. how says how the child differs, for
// messages ("as user 65534").
func Rerun(t *testing.T, bin, how string, setup func(*exec.Cmd)) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v")
	setup(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", t.Name(), how, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s %s did not pass:\n%s", t.Name(), how, out)
	}
}
