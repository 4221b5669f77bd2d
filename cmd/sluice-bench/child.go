package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// child is a server the bench runs as a child process on 127.0.0.1.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan error
	port   int
}

// startChild runs argv(port) on a free 127.0.0.1 port, logging to
// dir/NAME.log, and waits up to 60 s until ready(port) reports true. On
// error nothing is left running.
func startChild(dir, name string, argv func(port int) []string, ready func(port int) bool) (*child, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := argv(port)
	c := &child{name: name, cmd: exec.Command(args[0], args[1:]...), exited: make(chan error, 1), port: port}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { c.exited <- c.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !ready(port) {
		select {
		case err := <-c.exited:
			return nil, fmt.Errorf("%s exited: %v (see %s)", name, err, logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s did not answer on port %d within 60s (see %s)", name, port, logf.Name())
		}
	}
	return c, nil
}

// listening reports whether something accepts TCP connections on port.
func listening(port int) bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// stop kills the child and waits for it.
func (c *child) stop() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}
