// Package age registers the "age" encryption stage (filippo.io/age).
// Objects it writes are standard age files: `age -d -i key.txt` reads them.
//
// Keys come only by reference: recipients as public strings or files,
// identities from files, passphrases from an environment variable or a
// file. No secret is ever part of an error message.
package age

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"golang.org/x/crypto/ssh"

	"github.com/sluice-backup/sluice/pipeline"
)

// Name is the stage's registered name.
const Name = "age"

// Spec describes the stage.
var Spec = pipeline.StageSpec{
	Name:      Name,
	Kind:      pipeline.Encryption,
	Extension: ".age",
	Help:      "age encryption (X25519, post-quantum hybrid, SSH keys or scrypt passphrase); readable by age -d",
	Options: []pipeline.OptionSpec{
		{Name: "recipient", Type: pipeline.List, Help: "public key to encrypt to: age1…, age1pq1… or an SSH public key line (repeatable)"},
		{Name: "recipients_file", Type: pipeline.List, Help: "file of recipients, one per line, # comments (repeatable)"},
		{Name: "identity_file", Type: pipeline.List, Secret: true, Help: "file of age identities or an unencrypted SSH private key, to decrypt (repeatable)"},
		{Name: "passphrase_env", Type: pipeline.String, Secret: true, Help: "name of the environment variable holding the passphrase"},
		{Name: "passphrase_file", Type: pipeline.String, Secret: true, Help: "file whose first line is the passphrase"},
		{Name: "work_factor", Type: pipeline.Int, Default: "18", Help: "scrypt work factor (log2 N) for passphrase encryption, 10 to 22"},
	},
	Detect: Detect,
	New:    New,
}

func init() { pipeline.Default.RegisterStage(Spec) }

const (
	binaryMagic = "age-encryption.org/v1\n"
	armorMagic  = armor.Header
)

// Detect reports whether header starts an age file, binary or armored.
func Detect(header []byte) bool {
	if bytes.HasPrefix(header, []byte(binaryMagic)) {
		return true
	}
	trimmed := bytes.TrimLeft(header, " \t\r\n")
	return bytes.HasPrefix(trimmed, []byte(armorMagic))
}

// Stage is a configured age stage. Recipients are needed to encode,
// identities to decode; either set may be empty.
type Stage struct {
	recipients []age.Recipient
	identities []age.Identity
}

var (
	_ pipeline.Stage         = (*Stage)(nil)
	_ pipeline.EncodeChecker = (*Stage)(nil)
)

// New builds a stage, reading every referenced key file and variable now,
// so a missing key stops a pipeline before any data moves.
func New(o pipeline.Options) (pipeline.Stage, error) {
	s := &Stage{}
	for _, r := range o.List("recipient") {
		rec, err := ParseRecipient(r)
		if err != nil {
			return nil, err
		}
		s.recipients = append(s.recipients, rec)
	}
	for _, f := range o.List("recipients_file") {
		recs, err := ReadRecipientsFile(f)
		if err != nil {
			return nil, err
		}
		s.recipients = append(s.recipients, recs...)
	}
	for _, f := range o.List("identity_file") {
		ids, err := ReadIdentityFile(f)
		if err != nil {
			return nil, err
		}
		s.identities = append(s.identities, ids...)
	}
	pass, err := passphrase(o.String("passphrase_env"), o.String("passphrase_file"))
	if err != nil {
		return nil, err
	}
	if pass != "" {
		if len(s.recipients) > 0 {
			return nil, errors.New("a passphrase cannot be combined with recipients: age encrypts to one or the other")
		}
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		wf := o.Int("work_factor")
		switch {
		case wf < minWorkFactor:
			return nil, fmt.Errorf("work_factor %d out of range %d..%d: below %d a passphrase is too cheap to guess", wf, minWorkFactor, maxWorkFactor, minWorkFactor)
		case wf > maxWorkFactor:
			return nil, fmt.Errorf("work_factor %d out of range %d..%d: age, and age -d, refuse to decrypt with more than %d", wf, minWorkFactor, maxWorkFactor, maxWorkFactor)
		}
		r.SetWorkFactor(wf)
		s.recipients = append(s.recipients, r)
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		s.identities = append(s.identities, id)
	}
	return s, nil
}

// The scrypt work factors (log2 N) a passphrase backup may use. Above
// maxWorkFactor, age's default limit when it decrypts (and so that of
// `age -d`), the backup could be restored by neither sluice nor age; it
// would also take 8 GiB of memory or more for one scrypt.
const (
	minWorkFactor = 10
	maxWorkFactor = 22
)

func passphrase(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errors.New("give passphrase_env or passphrase_file, not both")
	case env != "":
		return pipeline.LookupSecretEnv("passphrase variable", env)
	case file != "":
		b, err := pipeline.ReadKeyFile("passphrase file", file)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" {
			return "", fmt.Errorf("passphrase file %s is empty", file)
		}
		return line, nil
	}
	return "", nil
}

// ParseRecipient parses one recipient: an age X25519 or hybrid public key,
// or an SSH public key line (ssh-ed25519, ssh-rsa).
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", s, err)
		}
		return r, nil
	case strings.HasPrefix(s, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", s, err)
		}
		return r, nil
	case strings.HasPrefix(s, "ssh-"):
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("ssh recipient: %w", err)
		}
		return r, nil
	case strings.HasPrefix(s, "AGE-SECRET-KEY-"):
		// Never echo it: it is a private key given where a public one belongs.
		return nil, errors.New("recipient is an age identity (private key), not a recipient; use the public key that `sluice keygen` printed")
	}
	return nil, errors.New("unknown recipient type: want age1…, age1pq1… or an SSH public key")
}

// ReadRecipientsFile reads recipients, one per line, skipping blank lines
// and # comments. A path that looks like a key is refused unechoed (see
// [pipeline.OpenKeyFile]).
func ReadRecipientsFile(path string) ([]age.Recipient, error) {
	f, err := pipeline.OpenKeyFile("recipients file", path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []age.Recipient
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("recipients file %s line %d: %w", path, n, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("recipients file %s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("recipients file %s: no recipients found", path)
	}
	return recs, nil
}

// ReadIdentityFile reads identities: an age identities file (what
// `sluice keygen` and `age-keygen` write) or an unencrypted SSH private key.
// Parse errors never include the file's content, and a path that looks
// like a key is refused unechoed (see [pipeline.ReadKeyFile]).
func ReadIdentityFile(path string) ([]age.Identity, error) {
	b, err := pipeline.ReadKeyFile("identity file", path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte("-----BEGIN")) && bytes.Contains(b, []byte("PRIVATE KEY-----")) {
		id, err := agessh.ParseIdentity(b)
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, fmt.Errorf("identity file %s: passphrase-protected SSH keys are not supported; use an age identity or an unencrypted copy", path)
			}
			return nil, fmt.Errorf("identity file %s: not a usable SSH private key", path)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		if holdsRecipients(b) {
			return nil, fmt.Errorf("identity file %s is a recipients file (public keys), not an identity; give the file with the private key (AGE-SECRET-KEY-…) that `sluice keygen -o` or age-keygen wrote", path)
		}
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return ids, nil
}

// holdsRecipients reports whether the first line of b that is not blank
// or a # comment is a public key: a recipient given where an identity
// belongs.
func holdsRecipients(b []byte) bool {
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return strings.HasPrefix(line, "age1") || strings.HasPrefix(line, "ssh-")
	}
	return false
}

// CheckEncode reports a stage with no one to encrypt to, naming the
// options that give recipients; identity files alone only decrypt.
func (s *Stage) CheckEncode() error {
	if len(s.recipients) > 0 {
		return nil
	}
	hint := ""
	if len(s.identities) > 0 {
		hint = " (identity_file only decrypts)"
	}
	return fmt.Errorf("%w to encrypt to: give recipient, recipients_file, passphrase_env or passphrase_file%s", pipeline.ErrNoRecipient, hint)
}

// Encode encrypts src to the stage's recipients.
func (s *Stage) Encode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	if err := s.CheckEncode(); err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	return pipeline.PipeEncoder(ctx, src, func(dst io.Writer) (io.WriteCloser, error) {
		return age.Encrypt(dst, s.recipients...)
	}), nil
}

// Decode decrypts src, binary or armored, with the stage's identities.
// Every chunk is authenticated before it is returned; a truncated or
// altered stream fails with [pipeline.ErrIntegrity].
func (s *Stage) Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	if len(s.identities) == 0 {
		return nil, fmt.Errorf("age: %w (%w): the object is age-encrypted; give an identity file (-i FILE) or a passphrase (--passphrase-env VAR or --passphrase-file FILE)", pipeline.ErrNoKey, pipeline.ErrNoIdentity)
	}
	return pipeline.DecodeReader(ctx, Name, src, func(r io.Reader) (io.Reader, func(), error) {
		br := bufio.NewReaderSize(r, 64)
		head, _ := br.Peek(len(armorMagic) + 8)
		var in io.Reader = br
		if Detect(head) && !bytes.HasPrefix(head, []byte(binaryMagic)) {
			in = armor.NewReader(br)
		}
		d, err := age.Decrypt(in, s.identities...)
		if err != nil {
			var nomatch *age.NoIdentityMatchError
			if errors.As(err, &nomatch) {
				return nil, nil, s.noMatch(nomatch.StanzaTypes)
			}
			return nil, nil, err
		}
		return d, nil, nil
	})
}

// noMatch explains why none of the stage's identities opened an object
// whose header holds recipient stanzas of stanzaTypes: what kind of key
// the object was encrypted for against what kind was given, as age's own
// "file is passphrase-encrypted but identities were specified". It wraps
// [pipeline.ErrNoIdentity].
func (s *Stage) noMatch(stanzaTypes []string) error {
	var want, have []string
	for _, t := range stanzaTypes {
		if k := stanzaKind(t); !slices.Contains(want, k) {
			want = append(want, k)
		}
	}
	for _, id := range s.identities {
		if k := identityKind(id); !slices.Contains(have, k) {
			have = append(have, k)
		}
	}
	forPassphrase := slices.Contains(stanzaTypes, "scrypt")
	gotPassphrase := slices.Contains(have, kindPassphrase)
	switch {
	case forPassphrase && gotPassphrase:
		return fmt.Errorf("%w: incorrect passphrase: the object is passphrase-encrypted and the passphrase given does not open it", pipeline.ErrNoIdentity)
	case forPassphrase:
		return fmt.Errorf("%w: the object is passphrase-encrypted, but only identity files were given (%s); give its passphrase (--passphrase-env or --passphrase-file)", pipeline.ErrNoIdentity, strings.Join(have, ", "))
	case gotPassphrase && len(have) == 1:
		return fmt.Errorf("%w: the object is encrypted to %s, not with a passphrase; give the identity file (-i) of one of its recipients", pipeline.ErrNoIdentity, strings.Join(want, ", "))
	}
	return fmt.Errorf("%w: none of the given keys opens this object (it is encrypted to %s; the keys given are %s)", pipeline.ErrNoIdentity, strings.Join(want, ", "), strings.Join(have, ", "))
}

const kindPassphrase = "a passphrase"

// stanzaKind names the kind of key an age header's recipient stanza of
// type t was written for.
func stanzaKind(t string) string {
	switch t {
	case "scrypt":
		return kindPassphrase
	case "X25519":
		return "age X25519 keys"
	case "mlkem768x25519":
		return "age post-quantum keys"
	case "ssh-ed25519", "ssh-rsa":
		return "SSH keys"
	}
	return fmt.Sprintf("recipients of type %q", t)
}

// identityKind names the kind of key id is, in stanzaKind's terms.
func identityKind(id age.Identity) string {
	switch id.(type) {
	case *age.ScryptIdentity:
		return kindPassphrase
	case *age.X25519Identity:
		return "age X25519 keys"
	case *age.HybridIdentity:
		return "age post-quantum keys"
	case *agessh.Ed25519Identity, *agessh.RSAIdentity:
		return "SSH keys"
	}
	return "other keys"
}
