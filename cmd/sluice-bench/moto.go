package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// moto is a moto_server child process serving S3 on 127.0.0.1, for
// measuring sluice against S3 targets without an AWS account.
type moto struct {
	*child
	endpoint string
}

// startMoto starts moto_server on a free port, logging to dir, waits until
// it answers and points the AWS environment of this process (which the
// sluice children inherit) at it with dummy credentials.
func startMoto(dir string) (store, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not found (pip install 'moto[server]'): %w", err)
	}
	c, err := startChild(dir, "moto_server", func(port int) []string {
		return []string{bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)}
	}, func(port int) bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/moto-api/", port))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	m := &moto{child: c, endpoint: "http://127.0.0.1:" + strconv.Itoa(c.port)}
	empty := filepath.Join(dir, "aws-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		m.stop()
		return nil, err
	}
	setenv(map[string]string{
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
	})
	return m, nil
}

// target creates bucket name. moto does not check signatures, so a plain
// path-style PUT does.
func (m *moto) target(name string) (string, error) {
	if err := m.call(http.MethodPut, "/"+name); err != nil {
		return "", err
	}
	return "s3://" + name + "/bench", nil
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
