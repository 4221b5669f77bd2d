package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The sluice binary, built once for the tests that run it as a child
// process (signals, memory, concurrent runs) and removed by TestMain.
var sluiceBin struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sluiceBin.dir != "" {
		os.RemoveAll(sluiceBin.dir)
	}
	os.Exit(code)
}

// binary returns the path of a freshly built sluice.
func binary(t *testing.T) string {
	t.Helper()
	sluiceBin.once.Do(func() {
		sluiceBin.dir, sluiceBin.err = os.MkdirTemp("", "sluice-bin-")
		if sluiceBin.err != nil {
			return
		}
		sluiceBin.path = filepath.Join(sluiceBin.dir, "sluice")
		cmd := exec.Command("go", "build", "-o", sluiceBin.path, ".")
		sluiceBin.out, sluiceBin.err = cmd.CombinedOutput()
	})
	if sluiceBin.err != nil {
		t.Fatalf("go build: %v\n%s", sluiceBin.err, sluiceBin.out)
	}
	return sluiceBin.path
}

// child is sluice running as a child process.
type child struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr lockedBuffer
	done           chan struct{}
	fed            atomic.Int64
}

// lockedBuffer is a bytes.Buffer safe for a child's output and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startChild starts sluice with args and a stdin pipe the test feeds.
// The child is killed if the test ends first.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(binary(t), args...), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// feedForever writes incompressible data to the child's stdin until the
// pipe breaks (the child exits); it never closes stdin, so only a signal
// can end the run.
func (c *child) feedForever() {
	go func() {
		buf := make([]byte, 64<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for {
			for i := 0; i+8 <= len(buf); i += 8 {
				v := r.Uint64()
				for j := range 8 {
					buf[i+j] = byte(v >> (8 * j))
				}
			}
			n, err := c.stdin.Write(buf)
			c.fed.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
}

// feed writes data to stdin and closes it.
func (c *child) feed(data []byte) {
	go func() {
		c.stdin.Write(data)
		c.stdin.Close()
	}()
}

// wait waits for the child to exit and returns its exit status (-1 with
// the signal that killed it). It fails the test after timeout: a child
// that does not stop is the bug these tests look for.
func (c *child) wait(t *testing.T, timeout time.Duration) (code int, sig syscall.Signal) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.cmd.Process.Kill()
		<-c.done
		t.Fatalf("sluice did not exit within %v\nstderr:\n%s", timeout, c.stderr.String())
	}
	st := c.cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return st.ExitCode(), 0
}

// maxRSS returns the child's peak resident set size in bytes, after wait.
func (c *child) maxRSS() int64 {
	if ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // KiB on Linux
	}
	return 0
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
