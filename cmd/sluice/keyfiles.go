package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
)

// warnLooseKeyFiles warns on stderr about every secret file the key flags
// name (identity files, a passphrase file, a Fernet key file) that group
// or others can read, as ssh does for private keys. It warns rather than
// refuses, unlike ssh: a key restored from a backup or checked out of git
// is often 0644, and refusing would turn a recoverable restore into a
// failure on the day it is needed. Missing files are left to the stage,
// which reports them. With asJSON the warning is a record of log, the
// command's JSON logger, so stderr stays JSON lines.
func warnLooseKeyFiles(e *env, k *keyFlags, log *slog.Logger, asJSON bool) {
	if runtime.GOOS == "windows" {
		return
	}
	check := func(kind, path string) {
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			return
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			msg := fmt.Sprintf("%s %s is accessible by others (mode %04o); run chmod 600 %s", kind, path, perm, path)
			if asJSON {
				log.Warn(msg)
				return
			}
			fmt.Fprintf(e.stderr, "sluice: warning: %s\n", msg)
		}
	}
	for _, p := range k.identities {
		check("identity file", p)
	}
	if k.passphraseFile != "" {
		check("passphrase file", k.passphraseFile)
	}
	if k.fernetKey != "" {
		check("Fernet key file", k.fernetKey)
	}
}
