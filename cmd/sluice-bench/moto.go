package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// moto is a moto_server child process serving S3 on 127.0.0.1, for
// measuring sluice against S3 targets without an AWS account.
type moto struct {
	cmd      *exec.Cmd
	exited   chan error
	endpoint string
}

// startMoto starts moto_server on a free port, logging to dir, waits until
// it answers and points the AWS environment of this process (which the
// sluice children inherit) at it with dummy credentials.
func startMoto(dir string) (*moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not found (pip install 'moto[server]'): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "moto.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	m := &moto{
		cmd:      exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)),
		exited:   make(chan error, 1),
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
	}
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	go func() { m.exited <- m.cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(m.endpoint + "/moto-api/"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-m.exited:
			return nil, fmt.Errorf("moto_server exited: %v (see %s)", err, logf.Name())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, fmt.Errorf("moto_server did not answer on port %d within 60s", port)
		}
	}
	empty := filepath.Join(dir, "aws-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		m.stop()
		return nil, err
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_S3":         m.endpoint,
		"AWS_ENDPOINT_URL":            "",
		"AWS_ACCESS_KEY_ID":           "sluice-bench",
		"AWS_SECRET_ACCESS_KEY":       "sluice-bench-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  "us-east-1",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             empty,
		"AWS_SHARED_CREDENTIALS_FILE": empty,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		os.Setenv(k, v)
	}
	return m, nil
}

// createBucket creates bucket name. moto does not check signatures, so a
// plain path-style PUT does.
func (m *moto) createBucket(name string) error {
	return m.call(http.MethodPut, "/"+name)
}

// reset drops every bucket and object, freeing what moto holds.
func (m *moto) reset() error {
	return m.call(http.MethodPost, "/moto-api/reset")
}

func (m *moto) call(method, path string) error {
	req, err := http.NewRequest(method, m.endpoint+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("moto %s %s: %s", method, path, resp.Status)
	}
	return nil
}

// stop kills moto_server and waits for it.
func (m *moto) stop() {
	_ = m.cmd.Process.Kill()
	<-m.exited
}
