package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/backends/azuretest"
	"github.com/sluice-backup/sluice/backends/gcstest"
)

// TestGocloudOptionsBesideURL: gs and azblob options written beside url
// in a config's target entry validate, back up and list as the same
// options in the URL's query do (Azurite is reached only through them:
// the variables naming it are cleared), the printed URLs carry them
// alike, config show prints them without the credential a domain holds,
// and a typo beside url is an unknown key naming the known ones, exit 2.
func TestGocloudOptionsBesideURL(t *testing.T) {
	gcstest.StartFakeGCS(t, "opts")
	azureURL := azuretest.StartAzurite(t, "opts")
	domain := strings.TrimSuffix(strings.TrimPrefix(azureURL, "http://"), "/"+azuretest.Account)
	for _, v := range []string{"AZURE_STORAGE_IS_LOCAL_EMULATOR", "AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL"} {
		t.Setenv(v, "")
	}
	tree := makeTree(t)
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`pipelines:
  p:
    source: %s
    allow_plaintext: true
    stages: [zstd]
    name: "{pipeline}"
    targets:
      - {url: "gs://opts/beside", anonymous: true, access_id: "-"}
      - {url: "azblob://opts/beside", domain: "%s", protocol: http, localemu: true}
      - "gs://opts/query?anonymous=true&access_id=-"
      - "azblob://opts/query?domain=%s&protocol=http&localemu=true"
`, tree, domain, domain))
	if stdout, stderr, code := cli(t, nil, "--config", cfg, "config", "validate"); code != 0 {
		t.Fatalf("config validate: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	got := urlLines(t, mustCLI(t, nil, "--config", cfg, "run"))
	azQuery := "?domain=" + domain + "&localemu=true&protocol=http"
	want := []string{
		"gs://opts/beside/p.tar.zst?access_id=-&anonymous=true",
		"azblob://opts/beside/p.tar.zst" + azQuery,
		"gs://opts/query/p.tar.zst?access_id=-&anonymous=true",
		"azblob://opts/query/p.tar.zst" + azQuery,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("run printed %q, want %q", got, want)
	}
	listOut := mustCLI(t, nil, "--config", cfg, "list", "p")
	for _, u := range want {
		if !strings.Contains(listOut, u) {
			t.Errorf("list does not show %s:\n%s", u, listOut)
		}
	}
	for _, u := range want {
		mustCLI(t, nil, "restore", u, "--to", filepath.Join(t.TempDir(), "out"))
	}

	// A password in a domain beside url is not shown by config show.
	const canary = "CANARYdomainPass99"
	secret := writeConfig(t, "secret.yaml", fmt.Sprintf(`pipelines:
  p:
    source: %s
    allow_plaintext: true
    targets:
      - {url: "azblob://opts/beside", domain: "u:%s@%s", protocol: http}
`, tree, canary, domain))
	show := mustCLI(t, nil, "--config", secret, "config", "show")
	if strings.Contains(show, canary) || !strings.Contains(show, "REDACTED@"+domain) {
		t.Errorf("config show of a domain with a password:\n%s", show)
	}

	for _, tc := range []struct{ target, want string }{
		{`{url: "gs://opts/p", anonymus: true}`, "pipelines.p.targets[0].anonymus: unknown key (known: url, anonymous, access_id, private_key_path, universe_domain)"},
		{`{url: "azblob://opts/p", domian: x}`, "pipelines.p.targets[0].domian: unknown key (known: url, storage_account, domain, protocol, localemu, cdn)"},
		{`{url: "azblob://opts/p", localemu: maybe}`, `pipelines.p.targets[0].localemu: want true or false, got "maybe"`},
		{`{url: "azblob://opts/p", protocol: ftp}`, `protocol: want http or https, got "ftp"`},
		{`{url: "azblob://opts/p?protocol=http", protocol: http}`, "option protocol given both in the URL and in the target's settings"},
		{`"gs://opts/p?grpc=true"`, "query parameter grpc: not supported: sluice reaches Google Cloud Storage through its JSON API, not gRPC"},
	} {
		bad := writeConfig(t, "bad.yaml", fmt.Sprintf("pipelines:\n  p:\n    source: %s\n    allow_plaintext: true\n    targets:\n      - %s\n", tree, tc.target))
		_, stderr, code := cli(t, nil, "--config", bad, "config", "validate")
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d saying %q\nstderr: %s", tc.target, code, exitUsage, tc.want, stderr)
		}
	}
	// grpc in a URL given on the command line: refused before anything
	// opens, with no line that is not JSON under --json.
	stdout, stderr, code := cli(t, nil, "backup", "--json", tree, "--to", "gs://opts/p?grpc=true", "--encrypt", "none")
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, "JSON API") {
		t.Errorf("backup to grpc=true: exit %d, want %d\nstdout: %s\nstderr: %s", code, exitUsage, stdout, stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "{") {
			t.Errorf("backup --json to grpc=true: stderr line %q is not JSON", l)
		}
	}
}
