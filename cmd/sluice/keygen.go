package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/pipeline/fsync"
	"github.com/sluice-backup/sluice/stages/fernet"
)

func newKeygenCmd(e *env) *cobra.Command {
	var out string
	var fernetKey bool
	cmd := &cobra.Command{
		Use:   "keygen [-o FILE] [--fernet]",
		Short: "Generate a new age identity, or a Fernet key",
		Long: `Generate a new age X25519 identity.

With -o, the identity is written to FILE (mode 0600, never overwriting) and
the recipient (public key) is printed on stdout. Without -o, the identity
goes to stdout and the recipient to stderr, as age-keygen does.

With --fernet, a Fernet key as Python's Fernet.generate_key() makes it is
written to FILE exactly as the Python recipe saves it (no newline; mode
0600, never overwriting; -o is required) and nothing
is printed on stdout: a Fernet key is symmetric, there is no public part.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fernetKey {
				return keygenFernet(e, out)
			}
			id, err := age.GenerateX25519Identity()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			content := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n",
				time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
			if out == "" || out == "-" {
				fmt.Fprint(e.stdout, content)
				fmt.Fprintf(e.stderr, "Public key: %s\n", id.Recipient())
				return nil
			}
			if err := writeSecretFile(out, []byte(content)); err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			fmt.Fprintln(e.stdout, id.Recipient())
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the identity to FILE (mode 0600)")
	cmd.Flags().BoolVar(&fernetKey, "fernet", false, "generate a Fernet key (Python cryptography format) instead; needs -o")
	return cmd
}

// keygenFernet writes a new Fernet key to out. The key is symmetric, so
// it never goes to stdout, where it could end up in logs.
func keygenFernet(e *env, out string) error {
	if out == "" || out == "-" {
		return usageErrorf("keygen --fernet: give -o FILE; the key is secret and is never printed")
	}
	if err := writeSecretFile(out, []byte(fernet.GenerateKey())); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(e.stderr, "Fernet key written to %s\n", out)
	return nil
}

// writeSecretFile creates path with mode 0600 holding data, durably, and
// never replaces an existing file. The data goes to a temporary file
// beside path, is flushed to disk, and is then linked to path, and the
// folder is flushed: a process killed on the way leaves at most that
// hidden temporary file, never an empty or partial key at path, and a key
// whose recipient was printed survives a crash of the machine.
func writeSecretFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	// A missing folder (~/.config/sluice) is created private to the
	// user, and flushed like the key.
	if err := fsync.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists, and is never overwritten", path)
	}
	// CreateTemp makes the file with mode 0600. Its name does not grow
	// with path's, which may be as long as a name can be.
	f, err := os.CreateTemp(dir, ".sluice-key-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = fsync.File(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists, and is never overwritten", path)
	} else if err != nil {
		// A file system without hard links (FAT): a rename, after the
		// check above.
		if err := os.Rename(f.Name(), path); err != nil {
			return err
		}
	}
	os.Remove(f.Name())
	if err := fsync.Folder(dir); err != nil {
		// The key may not survive a crash: take it back rather than
		// leave a key whose recipient was never printed.
		os.Remove(path)
		return err
	}
	return nil
}
