// Package proctest runs test servers (moto_server, Azurite) as child
// processes on loopback ports, for the s3test and azuretest helpers.
package proctest

import (
	"bytes"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// startAttempts bounds retries when the chosen port is taken between
// picking it and the child binding it.
const startAttempts = 3

// Start runs the command argv(port) on a free 127.0.0.1 port and waits
// until ready(port) reports true. A child that exits before it is ready
// (usually: the port was taken meanwhile) is retried on another port; the
// last failure, or no readiness within 60 s, fails the test with the
// child's output. The child is killed when the test ends, and on Linux
// also when the test process dies without ending the test (a panic, a
// timeout). It returns the port.
func Start(t testing.TB, name string, argv func(port int) []string, ready func(port int) bool) int {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if port, ok := start(t, name, argv, ready, attempt == startAttempts); ok {
			return port
		}
	}
}

func start(t testing.TB, name string, argv func(int) []string, ready func(int) bool, last bool) (int, bool) {
	t.Helper()
	port := FreePort(t)
	var logs SyncBuffer
	args := argv(port)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	orphanGuard(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !ready(port) {
		select {
		case err := <-exited:
			if last {
				t.Fatalf("%s exited: %v\n%s", name, err, logs.String())
			}
			return 0, false
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("%s did not answer on port %d within 60s\n%s", name, port, logs.String())
		}
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return port, true
}

// Listening reports whether something accepts TCP connections on port.
func Listening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the child binds it; Start retries.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SyncBuffer is a bytes.Buffer safe for a child process writing and a test
// reading at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
