package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fp "github.com/sluice-backup/sluice/backends/faultproxy"
	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline"
)

// runChild runs sluice as a child process to its end and returns
// everything it wrote and its exit status.
func runChild(t *testing.T, env []string, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	c := startChild(t, env, args...)
	c.feed(stdin)
	code, sig := c.wait(t, 2*time.Minute)
	if sig != 0 {
		t.Fatalf("sluice %v killed by %v", args, sig)
	}
	return c.stdout.String(), c.stderr.String(), code
}

// TestSecretsNeverPrinted runs succeeding and failing backups and
// restores, with --json and with debug logs, while a passphrase, an
// identity, S3 credentials and credential-carrying URLs hold canary
// strings; no canary may appear on stdout or stderr.
func TestSecretsNeverPrinted(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, "canary")
	proxy := fp.Start(t, endpoint)

	const (
		passCanary   = "CANARYpassphrase-4f1d9c"
		secretCanary = "CANARYsecretAccessKey0b7e2a"
		tokenCanary  = "CANARYsessionToken5d3c1f"
		urlCanary    = "CANARYurlPassword9e8d7c"
		queryCanary  = "CANARYqueryToken1a2b3c"
	)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idCanary := id.String() // the private key itself
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id.txt")
	os.WriteFile(idFile, []byte(idCanary+"\n"), 0o600)
	otherID, _ := age.GenerateX25519Identity()
	otherFile := filepath.Join(dir, "other.txt")
	os.WriteFile(otherFile, []byte(otherID.String()+"\n"), 0o600)
	passFile := filepath.Join(dir, "pass.txt")
	os.WriteFile(passFile, []byte(passCanary+"\n"), 0o600)
	wrongPass := filepath.Join(dir, "wrong.txt")
	os.WriteFile(wrongPass, []byte("not-it\n"), 0o600)
	canaries := []string{passCanary, secretCanary, tokenCanary, urlCanary, queryCanary, idCanary,
		strings.TrimPrefix(idCanary, "AGE-SECRET-KEY-"), strings.ToLower(strings.TrimPrefix(idCanary, "AGE-SECRET-KEY-"))}

	env := []string{
		"AWS_ACCESS_KEY_ID=AKIACANARYID",
		"AWS_SECRET_ACCESS_KEY=" + secretCanary,
		"AWS_SESSION_TOKEN=" + tokenCanary,
		"SLUICE_TEST_PASS=" + passCanary,
	}
	proxyEnv := append(append([]string(nil), env...), "AWS_ENDPOINT_URL_S3="+proxy.URL)
	store := t.TempDir()
	data := randomBytes(t, 6<<20)

	type run struct {
		name   string
		env    []string
		stdin  []byte
		args   []string
		wantOK bool
	}
	var runs []run
	add := func(name string, wantOK bool, env []string, stdin []byte, args ...string) {
		runs = append(runs, run{name, env, stdin, args, wantOK})
	}
	for _, out := range [][]string{{"--json"}, {"--log-level", "debug"}} {
		add("backup passphrase", true, env, data, append([]string{"backup", "-", "--to", "file://" + store, "--to", "s3://canary/p?part_size=5242880", "--passphrase-env", "SLUICE_TEST_PASS", "--name", "pass"}, out...)...)
		add("backup passphrase file", true, env, data, append([]string{"backup", "-", "--to", "s3://canary/q", "--passphrase-file", passFile, "--name", "passfile"}, out...)...)
		add("backup recipient", true, env, []byte("small"), append([]string{"backup", "-", "--to", "file://" + store, "-r", id.Recipient().String(), "--name", "rec"}, out...)...)
		add("backup to a missing bucket", false, env, data, append([]string{"backup", "-", "--to", "s3://no-such-canary/p", "--passphrase-env", "SLUICE_TEST_PASS"}, out...)...)
		add("backup with retries", true, proxyEnv, data, append([]string{"backup", "-", "--to", "s3://canary/r?part_size=5242880&max_backoff=10ms", "--passphrase-env", "SLUICE_TEST_PASS", "--name", "retry"}, out...)...)
		add("backup failing after retries", false, proxyEnv, data, append([]string{"backup", "-", "--to", "s3://canary/f?part_size=5242880&max_attempts=2&max_backoff=10ms", "--passphrase-env", "SLUICE_TEST_PASS"}, out...)...)
		add("backup to URL with password", false, env, data, append([]string{"backup", "-", "--to", "file://user:" + urlCanary + "@localhost" + store, "--passphrase-env", "SLUICE_TEST_PASS"}, out...)...)
		add("backup to URL with token", false, env, data, append([]string{"backup", "-", "--to", "s3://canary/p?token=" + queryCanary, "--passphrase-env", "SLUICE_TEST_PASS"}, out...)...)
		add("backup with an identity as recipient", false, env, data, append([]string{"backup", "-", "--to", "file://" + store, "-r", idCanary}, out...)...)
		add("backup with passphrase and recipient", false, env, data, append([]string{"backup", "-", "--to", "file://" + store, "-r", id.Recipient().String(), "--passphrase-env", "SLUICE_TEST_PASS"}, out...)...)
	}
	proxy.Add(
		fp.Rule{Method: "PUT", Query: "partNumber=1", Contains: "/canary/r/", Times: 4, Fault: fp.Fault{Kind: fp.Status, Code: 503}},
		fp.Rule{Method: "PUT", Query: "partNumber", Contains: "/canary/f/", Fault: fp.Fault{Kind: fp.Reset, AfterBytes: 100}},
	)

	check := func(t *testing.T, name, stdout, stderr string) {
		t.Helper()
		for _, c := range canaries {
			if strings.Contains(stdout, c) || strings.Contains(stderr, c) {
				t.Errorf("%s: canary %q printed\nstdout:\n%s\nstderr:\n%s", name, c, stdout, stderr)
			}
		}
	}
	var urls []string
	for _, r := range runs {
		stdout, stderr, code := runChild(t, r.env, r.stdin, r.args...)
		if (code == 0) != r.wantOK {
			t.Fatalf("%s: exit %d\n%s", r.name, code, stderr)
		}
		check(t, r.name, stdout, stderr)
		if r.wantOK && (strings.Contains(r.name, "passphrase") || strings.Contains(r.name, "retries")) {
			urls = append(urls, strings.Fields(stdout)...)
		}
		if r.name == "backup with retries" && !strings.Contains(stderr, "retrying") && !strings.Contains(stderr, "--json") {
			t.Logf("note: no retry logged in %q", stderr)
		}
	}
	if len(urls) < 3 {
		t.Fatalf("stored %v, want at least 3 objects", urls)
	}
	urls = urls[:3] // a file:// and an S3 object with the passphrase, one by passphrase file
	for _, u := range urls {
		for _, args := range [][]string{
			{"restore", u, "--to", "-", "--passphrase-env", "SLUICE_TEST_PASS"},
			{"restore", u, "--to", "-", "--passphrase-file", passFile, "--log-level", "debug"},
			{"restore", u, "--to", filepath.Join(t.TempDir(), "x"), "--passphrase-file", wrongPass},
			{"restore", u, "--to", filepath.Join(t.TempDir(), "x"), "-i", idFile},
			{"restore", u, "--to", filepath.Join(t.TempDir(), "x"), "-i", otherFile, "--log-level", "debug"},
		} {
			stdout, stderr, code := runChild(t, env, nil, args...)
			wantOK := args[4] == "--passphrase-env" || args[5] == passFile
			if (code == 0) != wantOK {
				t.Fatalf("%v: exit %d\n%s", args, code, stderr)
			}
			if wantOK && stdout != string(data) {
				t.Fatalf("%v: restored %d bytes, want %d", args, len(stdout), len(data))
			}
			if wantOK {
				stdout = "" // the restored data itself is not output to check
			}
			check(t, strings.Join(args, " "), stdout, stderr)
		}
	}
	restoreURL := "s3://canary/p/x.age?token=" + queryCanary
	stdout, stderr, _ := runChild(t, env, nil, "restore", restoreURL, "--to", "-", "-i", idFile)
	check(t, "restore from URL with token", stdout, stderr)
	if proxy.Injected() == 0 {
		t.Fatal("the retry runs injected no fault")
	}
}

// secretish matches names of flags and options that could carry secret
// material.
var secretish = regexp.MustCompile(`(?i)pass|secret|token|key|credential|identity|private|sas`)

// TestNoFlagTakesASecret walks every command's flags: a flag about
// secrets must name a file or an environment variable, never hold the
// secret, since process arguments are visible to every local user.
func TestNoFlagTakesASecret(t *testing.T) {
	root := newRootCmd(&env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	// Flags whose value is a file or variable name despite their name.
	references := map[string]bool{"identity": true, "fernet-key": true}
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) {
			if !secretish.MatchString(f.Name) {
				return
			}
			checked++
			switch {
			case strings.HasSuffix(f.Name, "-file"), strings.HasSuffix(f.Name, "-env"):
			case references[f.Name] && strings.Contains(strings.ToLower(f.Usage), "file"):
			default:
				t.Errorf("%s --%s may take a secret value on the command line", c.CommandPath(), f.Name)
			}
		}
		c.Flags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	// -o STAGE.OPTION=VALUE reaches any option: no option may hold a secret.
	for _, s := range pipeline.Default.Stages() {
		checkSecretOptions(t, "stage "+s.Name, s.Options)
	}
	for _, b := range pipeline.Default.Backends() {
		checkSecretOptions(t, "backend "+b.Scheme, b.Options)
	}
	if checked == 0 {
		t.Fatal("no secret-related flag found; the walk is broken")
	}
}

func checkSecretOptions(t *testing.T, owner string, specs []pipeline.OptionSpec) {
	t.Helper()
	for _, o := range specs {
		// A key ID (sse_kms_key_id) names a key held elsewhere, like an
		// ARN: it is an identifier, not secret material.
		if !secretish.MatchString(o.Name) || strings.HasSuffix(o.Name, "_key_id") {
			continue
		}
		// gs's private_key_path is gocloud's name for a key file.
		if !strings.HasSuffix(o.Name, "_file") && !strings.HasSuffix(o.Name, "_env") && !strings.HasSuffix(o.Name, "_path") {
			t.Errorf("%s option %q may hold a secret; secrets come from files or environment variables", owner, o.Name)
		}
		if !o.Secret {
			t.Errorf("%s option %q refers to secret material but is not marked Secret", owner, o.Name)
		}
	}
}

// TestLooseKeyFileWarning checks the ssh-like warning about identity and
// passphrase files others can read, and that it never blocks a restore.
func TestLooseKeyFileWarning(t *testing.T) {
	key, rec := keypair(t)
	url := singleURL(t, mustCLI(t, strings.NewReader("data"), "backup", "-", "--to", "file://"+t.TempDir(), "-r", rec))
	_, errs, code := cli(t, nil, "restore", url, "--to", "-", "-i", key)
	if code != 0 || strings.Contains(errs, "warning") {
		t.Fatalf("0600 key: exit %d, stderr %q", code, errs)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := cli(t, nil, "restore", url, "--to", "-", "-i", key)
	if code != 0 || out != "data" {
		t.Fatalf("0644 key: exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(errs, "warning: identity file "+key) || !strings.Contains(errs, "chmod 600") {
		t.Fatalf("no warning about a 0644 identity file: %q", errs)
	}
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("secret\n"), 0o640)
	_, errs, _ = cli(t, strings.NewReader("x"), "backup", "-", "--to", "file://"+t.TempDir(), "--passphrase-file", pass)
	if !strings.Contains(errs, "warning: passphrase file") {
		t.Fatalf("no warning about a 0640 passphrase file: %q", errs)
	}
	// With --json the warning is a JSON log record among the events.
	_, errs, code = cli(t, nil, "restore", url, "--to", "-", "-i", key, "--json")
	warned := false
	for _, ev := range jsonEvents(t, errs) {
		if msg, _ := ev["msg"].(string); ev["level"] == "WARN" && strings.Contains(msg, "identity file "+key) {
			warned = true
		}
	}
	if code != 0 || !warned {
		t.Fatalf("--json: exit %d, no warning record about a 0644 identity file:\n%s", code, errs)
	}
}
