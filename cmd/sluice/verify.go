package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gocloud.dev/blob"

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

An object without encryption is decoded completely, which needs no key;
so is one without a manifest (made by another tool), which needs a key
only if it is encrypted. An encrypted object, without keys, is read back
and its size and SHA-256 compared with its manifest.
With keys (-i, --passphrase-env, --passphrase-file, --fernet-key; for
PIPELINE without them, the keys its stages name: an age identity_file or
passphrase, a Fernet key_file), each object is also decoded completely:
every encrypted chunk authenticated, the stream decompressed and, for
archives, every tar entry read to its end. Nothing is written anywhere. When decoding fails and the manifest
records the object's SHA-256, the stored bytes are checked against it, so
a damaged object is reported as damaged, not as a key that does not fit.

Each object is reported OK or BAD on stderr (--json: one JSON event each);
an object whose manifest cannot be read is BAD, as is a backup whose
object is missing (only its manifest is left), and the others are still
checked. An object that could not be checked because of a problem on
this machine (a missing or full $TMPDIR for a Fernet token's spool) is
reported as ERROR, not BAD. A target that cannot be opened or listed is
reported as FAILED. A pipeline's keys that cannot be read here (a key
kept offline) draw a warning, and the checksums are checked; the summary
line says when objects were not decoded.

Exit status 1 when any object is bad or could not be checked, or when
nothing was verified (no backups at all: a verification that checked
nothing is no success); otherwise 3 when some targets could not be read
while the backups on the others verified; 0 when everything verified.`,
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

// isFolder says whether name on t is a folder holding anything (backups,
// target folders, other objects), as a target URL given for an object's
// is: a store lists something under "name/".
func isFolder(ctx context.Context, t *pipeline.Target, name string) bool {
	if t.Bucket == nil {
		return false
	}
	it := t.Bucket.List(&blob.ListOptions{Prefix: strings.TrimSuffix(t.Prefix+name, "/") + "/"})
	_, err := it.Next(ctx)
	return err == nil
}

// holdsKey says whether keys give a key: a secret option of a stage
// (age's identity_file or passphrase, Fernet's key_file), not only
// options that tune decoding.
func holdsKey(reg *pipeline.Registry, keys pipeline.Keys) bool {
	for stage, opts := range keys {
		spec, err := reg.Stage(stage)
		if err != nil {
			continue
		}
		for _, o := range spec.Options {
			if _, ok := opts[o.Name]; ok && o.Secret {
				return true
			}
		}
	}
	return false
}

// withOptions returns keys with the options of extra added, each stage's
// replacing keys' own of the same name.
func withOptions(keys, extra pipeline.Keys) pipeline.Keys {
	out := pipeline.Keys{}
	for _, k := range []pipeline.Keys{keys, extra} {
		for stage, opts := range k {
			if out[stage] == nil {
				out[stage] = map[string]any{}
			}
			maps.Copy(out[stage], opts)
		}
	}
	return out
}

// pipelineKeys returns the decoding keys p's stages name: each stage's
// secret options (age's identity_file, passphrase_env, passphrase_file;
// Fernet's key_file), which are what decodes, with the key paths of the
// options used ("pipelines.docs.stages[1].age.identity_file"). It returns nil
// keys when no stage names one, and an error when a stage's keys cannot
// be read here (a key file kept elsewhere, a passphrase variable unset).
func pipelineKeys(reg *pipeline.Registry, p *pipeline.PipelineConfig) (pipeline.Keys, []string, error) {
	var keys pipeline.Keys
	var from []string
	for _, s := range p.Stages {
		values := s.Options.Values()
		opts := map[string]any{}
		var names []string
		for _, o := range s.Spec.Options {
			if v, ok := values[o.Name]; ok && o.Secret {
				opts[o.Name] = v
				names = append(names, s.Path+"."+s.Spec.Name+"."+o.Name)
			}
		}
		if len(opts) == 0 {
			continue
		}
		if _, err := reg.NewStage(s.Spec.Name, opts); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.Path, err)
		}
		if keys == nil {
			keys = pipeline.Keys{}
		}
		keys[s.Spec.Name] = opts
		from = append(from, names...)
	}
	return keys, from, nil
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
	// notes are the archive entries of the object being checked that
	// only a restore flag restores (external symlinks, devices): the
	// object is intact, so it is OK, with the flag named.
	var notes []string
	lifted := func(err error) { notes = append(notes, err.Error()) }
	// Only a key (an identity, a passphrase, a Fernet key) makes verify
	// decode every object; other options (-o zstd.concurrency=2) tune
	// whichever decoding happens.
	var dec *pipeline.Decoder
	if holdsKey(e.reg(), keys) {
		dec = &pipeline.Decoder{Registry: e.reg(), Keys: keys, Lifted: lifted}
	}
	keyless := &pipeline.Decoder{Registry: e.reg(), Keys: keys, Lifted: lifted}
	var bad, good, unchecked, targetsFailed int
	// checksumOnly counts the objects check compared with their manifest
	// without decoding them.
	var checksumOnly int
	// report reports object url: decoded says whether it was decoded.
	report := func(url string, decoded bool, err error) {
		objNotes := notes
		notes = nil
		if err != nil {
			objNotes = nil
		}
		local := errors.Is(err, pipeline.ErrLocal)
		switch {
		case local:
			unchecked++
		case err != nil:
			bad++
		default:
			good++
		}
		if f.json {
			ev := event{Event: "verified", Time: time.Now().UTC(), Object: url, Notes: objNotes}
			if !local {
				ev.Decoded = &decoded
			}
			if err != nil {
				ev.Event, ev.Error = "verify_failed", err.Error()
			}
			if local {
				ev.Event = "verify_error"
			}
			writeJSONEvent(e.stderr, ev)
			return
		}
		switch {
		case local:
			fmt.Fprintf(e.stderr, "ERROR %s: not checked, a problem on this machine: %v\n", url, err)
		case err != nil:
			fmt.Fprintf(e.stderr, "BAD  %s: %v\n", url, err)
		case len(objNotes) > 0:
			more := ""
			if len(objNotes) > 1 {
				more = fmt.Sprintf(" (and %d more entries)", len(objNotes)-1)
			}
			fmt.Fprintf(e.stderr, "OK   %s; note: %s%s\n", url, objNotes[0], more)
		default:
			fmt.Fprintf(e.stderr, "OK   %s\n", url)
		}
	}
	failTarget := func(pipelineName, url string, err error) {
		targetsFailed++
		reportTargetFailed(e, f.json, pipelineName, url, err)
	}
	// decode verifies object name on t by decoding it with d, and says
	// whether it was decoded: not when there was nothing to decode (no
	// object), its manifest stopped the decoding, or no key opened it.
	decode := func(d *pipeline.Decoder, t *pipeline.Target, name string) (bool, error) {
		err := pipeline.VerifyDecoded(ctx, d, t, name)
		decoded := !errors.Is(err, pipeline.ErrNoIdentity) && !errors.Is(err, pipeline.ErrNotFound) && !errors.Is(err, pipeline.ErrManifestUnusable)
		return decoded, err
	}
	// check verifies object name on t, whose manifest is m (nil: read it
	// here), and says whether it was decoded.
	check := func(t *pipeline.Target, name string, m *pipeline.Manifest) (bool, error) {
		if dec != nil {
			return decode(dec, t, name)
		}
		if m == nil {
			// An object's URL: its manifest, if any, is read here. One
			// that cannot be read is VerifyStored's to report; that is
			// no check of the object against it.
			var err error
			if m, err = pipeline.ReadManifest(ctx, t, name); err != nil {
				return false, pipeline.VerifyStored(ctx, t, name, nil)
			}
		}
		if m != nil && !encrypted(e.reg(), m.Stages) {
			// Nothing to decrypt: decoding needs no key.
			return decode(keyless, t, name)
		}
		err := pipeline.VerifyStored(ctx, t, name, m)
		if errors.Is(err, pipeline.ErrNoManifest) {
			// No checksum is recorded, so decoding is the only check
			// there is; it needs no key unless the object is encrypted,
			// and then says which key to give.
			return decode(keyless, t, name)
		}
		if err == nil || errors.Is(err, pipeline.ErrIntegrity) {
			checksumOnly++ // compared, matching or not
		}
		return false, err
	}
	var elsewhere elsewhereCount
	targets := 1
	if isURLArg(arg) {
		t, name, err := backends.OpenObject(ctx, e.reg(), arg)
		if err != nil {
			return targetOpenError(err)
		}
		defer t.Close()
		decoded, err := check(t, name, nil)
		if errors.Is(err, pipeline.ErrNotFound) && isFolder(ctx, t, name) {
			return usageErrorf("verify %s: that is a folder, not an object; verify takes an object's URL (sluice list %s shows them) or a pipeline name", backends.Redact(arg), backends.Redact(arg))
		}
		report(t.ObjectURL(name), decoded, err)
	} else {
		s, err := openScope(ctx, e, g, arg, true)
		if err != nil {
			return err
		}
		defer s.Close()
		if dec == nil {
			// Without key flags, the keys the pipeline's stages name
			// decode: the identity_file age keeps for it, a passphrase,
			// a Fernet key_file.
			pk, from, err := pipelineKeys(e.reg(), s.cfg)
			switch {
			case err != nil:
				log.Warn("not decoding with the pipeline's keys: they cannot be read here; checking checksums only", "pipeline", s.pipeline, "err", err)
			case pk != nil:
				log.Info("decoding with the pipeline's keys", "pipeline", s.pipeline, "keys", from)
				dec = &pipeline.Decoder{Registry: e.reg(), Keys: withOptions(pk, keys), Lifted: lifted}
			}
		}
		targets = len(s.targets) + len(s.unavailable)
		for _, t := range s.unavailable {
			failTarget(s.pipeline, t.URL, t.Unavailable)
		}
		for _, t := range s.targets {
			l, err := pipeline.ListBackups(ctx, t, s.pipeline)
			if err != nil {
				failTarget(s.pipeline, t.URL, err)
				continue
			}
			elsewhere.add(l)
			for _, en := range l.Entries {
				switch {
				case en.ManifestErr != nil:
					report(en.URL(), false, en.ManifestErr)
				case en.Missing:
					report(en.URL(), false, fmt.Errorf("%w: its manifest is left, the object is gone (deleted or lost)", errObjectMissing))
				default:
					decoded, err := check(t, en.Name, en.Manifest)
					report(en.URL(), decoded, err)
				}
			}
		}
	}
	checked := bad + good + unchecked
	if !f.json {
		line := fmt.Sprintf("verify: %d OK, %d bad", good, bad)
		if unchecked > 0 {
			line += fmt.Sprintf(", %d not checked", unchecked)
		}
		if targetsFailed > 0 {
			line += fmt.Sprintf("; %d of %d targets could not be read", targetsFailed, targets)
		}
		if checksumOnly > 0 {
			// An OK then means the stored bytes match the manifest, not
			// that they decode: say so, and how to check that too.
			how := "-i, --passphrase-env, --passphrase-file or --fernet-key"
			if !isURLArg(arg) {
				how = "-i, --passphrase-env, --passphrase-file, --fernet-key, or identity_file in the pipeline's age stage"
			}
			line += fmt.Sprintf("; %d checked against their manifests' size and SHA-256 only, not decoded (key flags decode them: %s)", checksumOnly, how)
		}
		fmt.Fprintln(e.stderr, line)
	}
	var problems []string
	if bad > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d objects failed verification", bad, checked))
	}
	if unchecked > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d objects could not be checked because of a local error", unchecked, checked))
	}
	if targetsFailed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d targets could not be read", targetsFailed, targets))
	}
	if checked == 0 {
		msg := "no backups found"
		if note := elsewhere.note(false); note != "" {
			msg += "; " + note
		}
		problems = append(problems, msg)
	}
	if len(problems) == 0 {
		return nil
	}
	err = fmt.Errorf("verify %s: %s", backends.Redact(arg), strings.Join(problems, "; "))
	return partialTargets(err, bad+unchecked == 0 && good > 0)
}

// errObjectMissing marks a backup whose manifest is left but whose object
// is gone.
var errObjectMissing = errors.New("object missing")

// encrypted reports whether stages, as a manifest records them, hold an
// encryption stage (or one this build does not know, which may be one).
func encrypted(reg *pipeline.Registry, stages []string) bool {
	for _, name := range stages {
		if name == pipeline.StageArchive {
			continue
		}
		if spec, err := reg.Stage(name); err != nil || spec.Kind == pipeline.Encryption {
			return true
		}
	}
	return false
}
