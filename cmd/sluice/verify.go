package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

type verifyFlags struct {
	json bool
	keys keyFlags
}

func newVerifyCmd(e *env, g *globalFlags) *cobra.Command {
	f := &verifyFlags{}
	cmd := &cobra.Command{
		Use:   "verify PIPELINE|OBJECT_URL [-i IDENTITY_FILE]... [--passphrase-env VAR]",
		Short: "Check stored checksums; with keys, decode fully",
		Long: `Verify every backup of PIPELINE on all its targets, or the one object at
OBJECT_URL.

Without keys, each object is read back and its size and SHA-256 compared
with its manifest. With keys (-i, --passphrase-env, --passphrase-file), each
object is also decoded completely: every encrypted chunk authenticated, the
stream decompressed and, for archives, every tar entry read to its end.
Nothing is written anywhere.

Each object is reported OK or BAD on stderr (--json: one JSON event each);
an object whose manifest cannot be read is BAD, and the others are still
checked. Exit status 1 when any object is bad or cannot be read, or when a
pipeline has no backups at all: a verification that checked nothing is no
success.`,
		Example: `  sluice verify photos
  sluice verify photos -i ~/.config/sluice/key.txt
  sluice verify s3://my-backups/photos/photos-nas-20261129T042500Z.tar.zst.age`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), e, g, f, args[0])
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "write one JSON event per object to stderr")
	f.keys.addDecrypt(cmd.Flags())
	return cmd
}

func runVerify(ctx context.Context, e *env, g *globalFlags, f *verifyFlags, arg string) error {
	log, err := g.logger(e.stderr, f.json)
	if err != nil {
		return err
	}
	ctx = backends.WithLogger(ctx, log)
	warnLooseKeyFiles(e, &f.keys, log, f.json)
	keys, err := decodeKeys(e.reg(), &f.keys)
	if err != nil {
		return err
	}
	// Build the key stages now, so a missing identity file is a usage
	// error before anything is read.
	for stage, opts := range keys {
		if _, err := e.reg().NewStage(stage, opts); err != nil {
			return usageError(err)
		}
	}
	var dec *pipeline.Decoder
	if len(keys) > 0 {
		dec = &pipeline.Decoder{Registry: e.reg(), Keys: keys}
	}
	var bad, good int
	report := func(url string, err error) {
		if err != nil {
			bad++
		} else {
			good++
		}
		if f.json {
			ev := event{Event: "verified", Time: time.Now().UTC(), Object: url}
			if err != nil {
				ev.Event, ev.Error = "verify_failed", err.Error()
			}
			writeJSONEvent(e.stderr, ev)
			return
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "BAD  %s: %v\n", url, err)
		} else {
			fmt.Fprintf(e.stderr, "OK   %s\n", url)
		}
	}
	check := func(t *pipeline.Target, name string, m *pipeline.Manifest) error {
		if dec != nil {
			return pipeline.VerifyDecoded(ctx, dec, t, name)
		}
		return pipeline.VerifyStored(ctx, t, name, m)
	}
	if isURLArg(arg) {
		t, name, err := backends.OpenObject(ctx, e.reg(), arg)
		if err != nil {
			return targetOpenError(err)
		}
		defer t.Close()
		report(t.ObjectURL(name), check(t, name, nil))
	} else {
		s, err := openScope(ctx, e, g, arg)
		if err != nil {
			return err
		}
		defer s.Close()
		for _, err := range s.openErrs {
			report("", err)
		}
		for _, t := range s.targets {
			entries, err := pipeline.Catalog(ctx, t, s.pipeline)
			if err != nil {
				report(t.URL, err)
				continue
			}
			for _, en := range entries {
				if en.ManifestErr != nil {
					report(en.URL(), en.ManifestErr)
					continue
				}
				report(en.URL(), check(t, en.Name, en.Manifest))
			}
		}
	}
	if !f.json {
		fmt.Fprintf(e.stderr, "verify: %d OK, %d bad\n", good, bad)
	}
	if bad+good == 0 {
		return fmt.Errorf("verify %s: no backups found", arg)
	}
	if bad > 0 {
		return fmt.Errorf("verify: %d of %d objects failed verification", bad, bad+good)
	}
	return nil
}
