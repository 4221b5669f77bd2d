package main

import (
	"fmt"
	"os"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
)

func newKeygenCmd(e *env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen [-o FILE]",
		Short: "Generate a new age identity",
		Long: `Generate a new age X25519 identity.

With -o, the identity is written to FILE (mode 0600, never overwriting) and
the recipient (public key) is printed on stdout. Without -o, the identity
goes to stdout and the recipient to stderr, as age-keygen does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	return cmd
}

// writeSecretFile creates path with mode 0600 and writes data. It never
// replaces an existing file, and removes a partly written one.
func writeSecretFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
