package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/sluice-backup/sluice/pipeline"
)

// keyFile is a secret file a command reads; kind names it in a warning.
type keyFile struct{ kind, path string }

// warnLooseKeyFiles warns about the secret files the key flags name
// (identity files, a passphrase file, a Fernet key file); see
// warnLooseFiles.
func warnLooseKeyFiles(e *env, k *keyFlags, log *slog.Logger, asJSON bool) {
	var files []keyFile
	for _, p := range k.identities {
		files = append(files, keyFile{"identity file", p})
	}
	if k.passphraseFile != "" {
		files = append(files, keyFile{"passphrase file", k.passphraseFile})
	}
	if k.fernetKey != "" {
		files = append(files, keyFile{"Fernet key file", k.fernetKey})
	}
	warnLooseFiles(e, files, log, asJSON)
}

// warnLooseConfigKeys warns about the secret files the stages of the
// named pipelines of cfg refer to: the values of stage options that are
// marked secret and name a file (identity_file, passphrase_file,
// key_file). Recipients files hold public keys and are left alone. See
// warnLooseFiles.
func warnLooseConfigKeys(e *env, cfg *pipeline.Config, names []string, log *slog.Logger, asJSON bool) {
	var files []keyFile
	for _, n := range names {
		for _, s := range cfg.Pipelines[n].Stages {
			for _, spec := range s.Spec.Options {
				if !spec.Secret || !strings.HasSuffix(spec.Name, "_file") || !s.Options.Has(spec.Name) {
					continue
				}
				kind := s.Path + "." + s.Spec.Name + "." + spec.Name
				switch spec.Type {
				case pipeline.String:
					files = append(files, keyFile{kind, s.Options.String(spec.Name)})
				case pipeline.List:
					for _, path := range s.Options.List(spec.Name) {
						files = append(files, keyFile{kind, path})
					}
				}
			}
		}
	}
	warnLooseFiles(e, files, log, asJSON)
}

// warnLooseFiles warns on stderr, once per path, about every file of
// files that group or others can read, as ssh does for private keys. The
// warning names the file and its mode, never its content. It warns rather
// than refuses, unlike ssh: a key restored from a backup or checked out
// of git is often 0644, and refusing would turn a recoverable restore into
// a failure on the day it is needed. Missing files are left to the stage,
// which reports them. With asJSON the warning is a record of log, the
// command's JSON logger, so stderr stays JSON lines.
func warnLooseFiles(e *env, files []keyFile, log *slog.Logger, asJSON bool) {
	if runtime.GOOS == "windows" {
		return
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.path] {
			continue
		}
		seen[f.path] = true
		st, err := os.Stat(f.path)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			msg := fmt.Sprintf("%s %s is accessible by others (mode %04o); run chmod 600 %s", f.kind, f.path, perm, f.path)
			if asJSON {
				log.Warn(msg)
				continue
			}
			fmt.Fprintf(e.stderr, "sluice: warning: %s\n", msg)
		}
	}
}
