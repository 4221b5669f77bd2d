package proctest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServerDiesWithTestProcess: a server Start ran is killed when the
// test process dies without its cleanups. A child test process starts
// one, prints its port and exits at once; the port must then go quiet.
func TestServerDiesWithTestProcess(t *testing.T) {
	if os.Getenv("PROCTEST_CHILD") == "1" {
		port := Start(t, "python http.server", func(port int) []string {
			return []string{"python3", "-m", "http.server", strconv.Itoa(port), "--bind", "127.0.0.1"}
		}, Listening)
		fmt.Println("port", port)
		os.Exit(0) // no cleanups
	}
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is required in CI: %v", err)
		}
		t.Skip("python3 not installed")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestProcess$")
	cmd.Env = append(os.Environ(), "PROCTEST_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var port int
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "port "); ok {
			port, _ = strconv.Atoi(v)
		}
	}
	if port == 0 {
		t.Fatalf("child printed no port:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for Listening(port) {
		if time.Now().After(deadline) {
			t.Fatalf("the server on port %d outlived the test process", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
