package pipeline

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// defaultUmask is assumed where the process's umask cannot be read.
const defaultUmask fs.FileMode = 0o022

// processUmask returns the process's file mode creation mask, so a file
// restored under a temporary name with mode 0600 can be given the mode
// any tool creating it would (0666 &^ umask) before it appears.
//
// syscall.Umask can only read the mask by setting it, and setting it back
// races with files other goroutines create meanwhile. Linux reports the
// mask in /proc/self/status (since 4.7); elsewhere, or when that cannot be
// read, it returns [defaultUmask], the usual mask.
func processUmask() fs.FileMode {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return defaultUmask
	}
	defer f.Close()
	return parseUmask(f)
}

// parseUmask reads the "Umask:" line of a /proc/PID/status file.
func parseUmask(r io.Reader) fs.FileMode {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "Umask:")
		if !ok {
			continue
		}
		m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
		if err != nil {
			break
		}
		return fs.FileMode(m) & fs.ModePerm
	}
	return defaultUmask
}
