package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	fp "github.com/sluice-backup/sluice/backends/faultproxy"
	"github.com/sluice-backup/sluice/backends/s3test"
)

// childTimeout bounds how long an interrupted child may take to exit.
const childTimeout = 60 * time.Second

// signalCases are the signals that stop a run after cleaning up.
var signalCases = []struct {
	name string
	sig  syscall.Signal
}{
	{"sigint", syscall.SIGINT},
	{"sigterm", syscall.SIGTERM},
	{"sighup", syscall.SIGHUP},
}

// filesUnder lists every file and directory below dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

// checkInterrupted checks a child stopped by sig: that it ended by sig
// after saying so (not by the signal's default action, which says
// nothing), and printed no URL on stdout.
func checkInterrupted(t *testing.T, c *child, sig syscall.Signal) {
	t.Helper()
	code, killed := c.wait(t, childTimeout)
	if killed != sig {
		t.Fatalf("exit %d (killed by %v), want to end by %v after cleaning up\nstderr:\n%s", code, killed, sig, c.stderr.String())
	}
	if errs := c.stderr.String(); !strings.Contains(errs, "interrupted by "+sig.String()) {
		t.Fatalf("stderr does not say it was interrupted:\n%s", errs)
	}
	if out := c.stdout.String(); out != "" {
		t.Fatalf("stdout %q after an interrupted run", out)
	}
}

func TestInterruptBackupFile(t *testing.T) {
	_, rec := keypair(t)
	for _, sc := range signalCases {
		t.Run(sc.name, func(t *testing.T) {
			store := t.TempDir()
			c := startChild(t, nil, "backup", "-", "--to", "file://"+store, "-r", rec, "--name", "big")
			c.feedForever()
			// The object is being written: its temporary file exists.
			waitUntil(t, childTimeout, "a temporary object file", func() bool {
				for _, f := range filesUnder(t, store) {
					if strings.HasSuffix(f, ".tmp") {
						return c.fed.Load() > 4<<20
					}
				}
				return false
			})
			c.cmd.Process.Signal(sc.sig)
			checkInterrupted(t, c, sc.sig)
			if left := filesUnder(t, store); len(left) > 0 {
				t.Fatalf("interrupted backup left %v", left)
			}
		})
	}
}

// s3State counts objects and open multipart uploads in bucket.
func s3State(t *testing.T, endpoint, bucket string) (objects, uploads int) {
	t.Helper()
	o, u := s3Contents(t, endpoint, bucket, "")
	return len(o), len(u)
}

// uploadedParts counts the parts of the open multipart uploads in bucket.
func uploadedParts(t *testing.T, endpoint, bucket string) int {
	t.Helper()
	_, uploads := s3Contents(t, endpoint, bucket, "")
	c := s3test.Client(endpoint)
	n := 0
	for _, u := range uploads {
		key, id, _ := strings.Cut(u, " ")
		lp, err := c.ListParts(t.Context(), &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: aws.String(id)})
		if err != nil {
			continue // aborted meanwhile
		}
		n += len(lp.Parts)
	}
	return n
}

func TestInterruptBackupS3(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	_, rec := keypair(t)
	for _, sc := range signalCases {
		t.Run(sc.name, func(t *testing.T) {
			bucket := "interrupt-" + sc.name
			s3test.CreateBucket(t, endpoint, bucket)
			c := startChild(t, nil, "backup", "-", "--to", "s3://"+bucket+"/p?part_size=5242880", "-r", rec, "--name", "big")
			c.feedForever()
			// Signal once a multipart upload holds a part, so the abort is
			// tested. (Listed alone, an upload may be one whose creation the
			// child has not yet heard back about: a signal then leaves it
			// open on any S3, sluice not knowing its ID.)
			waitUntil(t, childTimeout, "a multipart upload with a part", func() bool {
				return uploadedParts(t, endpoint, bucket) > 0
			})
			c.cmd.Process.Signal(sc.sig)
			checkInterrupted(t, c, sc.sig)
			if objects, uploads := s3State(t, endpoint, bucket); objects > 0 || uploads > 0 {
				t.Fatalf("interrupted backup left %d objects and %d open multipart uploads", objects, uploads)
			}
		})
	}
}

// TestSecondSignalExitsAtOnce stalls the cleanup (the multipart abort) of
// an interrupted backup: a second signal must end the process without
// waiting for it.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	endpoint, p := faultyS3(t)
	_, rec := keypair(t)
	p.Add(fp.Rule{Method: "DELETE", Query: "uploadId", Fault: fp.Fault{Kind: fp.Stall}})
	c := startChild(t, nil, "backup", "-", "--to", "s3://"+faultBucket+"/p?part_size=5242880", "-r", rec)
	c.feedForever()
	waitUntil(t, childTimeout, "an open multipart upload", func() bool {
		_, uploads := s3State(t, endpoint, faultBucket)
		return uploads > 0
	})
	c.cmd.Process.Signal(syscall.SIGINT)
	waitUntil(t, childTimeout, "the first signal to be seen", func() bool {
		return strings.Contains(c.stderr.String(), "cleaning up")
	})
	c.cmd.Process.Signal(syscall.SIGINT)
	// The stalled abort would hold the process for its 30s timeout.
	code, killed := c.wait(t, 20*time.Second)
	if killed != syscall.SIGINT || !strings.Contains(c.stderr.String(), "again") {
		t.Fatalf("exit %d (killed by %v), want to end by SIGINT at once\nstderr:\n%s", code, killed, c.stderr.String())
	}
}

// TestInterruptRestore interrupts restores stalled mid-download (a stream
// to a file, an archive to a directory): nothing may be left at the
// destination, not even a temporary.
func TestInterruptRestore(t *testing.T) {
	_, p := faultyS3(t)
	key, rec := keypair(t)
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "big.bin"), randomBytes(t, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tree, "small.txt"), []byte("x"), 0o644)
	objects := map[string]string{
		"stream":  singleURL(t, mustCLI(t, bytes.NewReader(randomBytes(t, 4<<20)), "backup", "-", "--to", "s3://"+faultBucket+"/s", "-r", rec)),
		"archive": singleURL(t, mustCLI(t, nil, "backup", tree, "--to", "s3://"+faultBucket+"/a", "-r", rec)),
	}
	for kind, url := range objects {
		for _, sc := range signalCases {
			t.Run(kind+"/"+sc.name, func(t *testing.T) {
				p.Clear()
				p.Add(fp.Rule{Method: "GET", Query: "x-id=GetObject", Suffix: ".age", Fault: fp.Fault{Kind: fp.Stall, AfterBytes: 1 << 20}})
				parent := t.TempDir()
				dest := filepath.Join(parent, "out")
				c := startChild(t, nil, "restore", url, "--to", dest, "-i", key)
				c.stdin.Close()
				waitUntil(t, childTimeout, "the stalled download", func() bool {
					return p.Injected() > 0 && len(filesUnder(t, parent)) > 0
				})
				c.cmd.Process.Signal(sc.sig)
				checkInterrupted(t, c, sc.sig)
				if left := filesUnder(t, parent); len(left) > 0 {
					t.Fatalf("interrupted restore left %v", left)
				}
			})
		}
	}
}

// TestInterruptJSON interrupts a backup running with --json: the notice
// of the signal and the final error are events too, so every stderr line
// stays JSON, and nothing is left behind.
func TestInterruptJSON(t *testing.T) {
	_, rec := keypair(t)
	store := t.TempDir()
	c := startChild(t, nil, "backup", "-", "--to", "file://"+store, "-r", rec, "--json")
	c.feedForever()
	waitUntil(t, childTimeout, "4 MiB fed", func() bool { return c.fed.Load() > 4<<20 })
	c.cmd.Process.Signal(syscall.SIGINT)
	code, killed := c.wait(t, childTimeout)
	if killed != syscall.SIGINT {
		t.Fatalf("exit %d (killed by %v), want to end by SIGINT\nstderr:\n%s", code, killed, c.stderr.String())
	}
	evs := jsonEvents(t, c.stderr.String())
	var notice bool
	for _, ev := range evs {
		if ev["event"] == "signal" && ev["signal"] == "interrupt" && strings.Contains(ev["action"].(string), "cleaning up") {
			notice = true
		}
	}
	last := evs[len(evs)-1]
	if !notice || last["event"] != "error" || last["signal"] != "interrupt" || last["exit_code"] != float64(130) {
		t.Fatalf("events of an interrupted --json backup:\n%s", c.stderr.String())
	}
	if left := filesUnder(t, store); len(left) > 0 {
		t.Fatalf("interrupted backup left %v", left)
	}
}

// TestHangupIgnoredUnderNohup: a backup started with SIGHUP ignored
// (nohup, trap "" HUP) keeps running when the session hangs up, and
// stores its object; without that, SIGHUP stops it (signalCases).
func TestHangupIgnoredUnderNohup(t *testing.T) {
	_, rec := keypair(t)
	store := t.TempDir()
	cmd := exec.Command("sh", "-c", `trap '' HUP; exec "$0" "$@"`, binary(t), "backup", "-", "--to", "file://"+store, "-r", rec, "--name", "kept")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	stdin.Write(randomBytes(t, 1<<20))
	waitUntil(t, childTimeout, "a temporary object file", func() bool {
		return slices.ContainsFunc(filesUnder(t, store), func(f string) bool { return strings.HasSuffix(f, ".tmp") })
	})
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond) // a caught SIGHUP would be acted on by now
	stdin.Write(randomBytes(t, 1<<20))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("backup under nohup after SIGHUP: %v\nstderr:\n%s", err, stderr.String())
	}
	singleURL(t, stdout.String())
}

// TestInterruptRestoreToStalledStdout: a restore to stdout whose reader
// stopped reading (the pipe is full, every write blocks) still stops on
// the first signal, instead of waiting on the write until a second one.
func TestInterruptRestoreToStalledStdout(t *testing.T) {
	key, rec := keypair(t)
	url := singleURL(t, mustCLI(t, bytes.NewReader(randomBytes(t, 4<<20)), "backup", "-", "--to", "file://"+t.TempDir(), "-r", rec))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close() // held open, never read
	cmd := exec.Command(binary(t), "restore", url, "--to", "-", "-i", key)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	time.Sleep(time.Second) // 4 MiB fill the pipe's buffer many times over
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(childTimeout):
		t.Fatalf("restore blocked on a full stdout did not stop on SIGTERM\nstderr:\n%s", stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM || !strings.Contains(stderr.String(), "interrupted by") {
		t.Fatalf("restore ended with %v, want to end by SIGTERM after saying so\nstderr:\n%s", cmd.ProcessState, stderr.String())
	}
}
