package pipeline

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrSecretForName is wrapped by errors about a value given where a file
// name or an environment variable name belongs that looks like a secret
// itself: an age or Fernet key pasted after -i or --fernet-key, a
// passphrase after --passphrase-env. The value is never echoed.
var ErrSecretForName = errors.New("a secret where a name belongs")

// SecretKind says what kind of private key material s contains, as a noun
// phrase for messages ("an age secret key", "a Fernet key"), or "" when it
// contains none that sluice recognises. Recognised are age secret keys and
// plugin identities, PEM and OpenSSH private key blocks, and Fernet keys:
// 43 characters of URL-safe base64 and "=" (the padded form
// Fernet.generate_key() and `sluice keygen --fernet` write, 32 bytes),
// alone or ending a longer word such as a path's last element
// ("/keys/backup-KEY"), and followed by neither base64 nor "=". An
// unpadded Fernet key is not recognised: too many plain names (of
// variables, of files) have 43 such characters.
func SecretKind(s string) string {
	u := strings.ToUpper(s)
	switch {
	case strings.Contains(u, "AGE-SECRET-KEY-"):
		return "an age secret key"
	case strings.Contains(u, "AGE-PLUGIN-"):
		return "an age plugin identity"
	case strings.Contains(u, "-----BEGIN") && strings.Contains(u, "PRIVATE KEY"):
		return "a PEM private key"
	case containsFernetKey(s):
		return "a Fernet key"
	}
	return ""
}

// LooksSecret reports whether s contains what looks like private key
// material (see [SecretKind]).
func LooksSecret(s string) bool { return SecretKind(s) != "" }

// secretShown is what [HideSecrets] puts where a secret was.
const secretShown = "(a secret, not shown)"

// HideSecrets returns msg with every word that looks like private key
// material ([LooksSecret]) replaced, words being split at spaces and
// quotes; if what remains still holds some (a PEM block across words),
// the whole message is replaced. It is the last guard before a message
// is shown: a key typed where no key belongs (-o zstd.level=KEY) is
// echoed by whatever parses that value.
func HideSecrets(msg string) string {
	if !LooksSecret(msg) {
		return msg
	}
	var b strings.Builder
	word := 0
	flush := func(end int) {
		if w := msg[word:end]; LooksSecret(w) {
			b.WriteString(secretShown)
		} else {
			b.WriteString(w)
		}
	}
	for i, r := range msg {
		if strings.ContainsRune(" \t\n\"'`", r) {
			flush(i)
			b.WriteRune(r)
			word = i + len(string(r))
		}
	}
	flush(len(msg))
	if out := b.String(); !LooksSecret(out) {
		return out
	}
	return "the message held what looks like private key material, so it is not shown"
}

// fernetKeyLen is the length of a padded Fernet key: 32 bytes in base64.
const fernetKeyLen = 44

// containsFernetKey reports whether s holds a padded Fernet key: 43
// URL-safe base64 characters and "=", followed by neither a base64
// character nor another "=". The characters before it may be base64 ones
// ("fernet-KEY"): a key may begin with "-" or "_", so a run of base64
// cannot be split where a key would begin.
func containsFernetKey(s string) bool {
	for i := 0; i < len(s); {
		if !isBase64URL(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isBase64URL(s[j]) {
			j++
		}
		end := j + 1 // past the "="
		if j-i >= fernetKeyLen-1 && j < len(s) && s[j] == '=' &&
			(end == len(s) || !isBase64URL(s[end]) && s[end] != '=') {
			if b, err := base64.URLEncoding.DecodeString(s[end-fernetKeyLen : end]); err == nil && len(b) == 32 {
				return true
			}
		}
		i = j
	}
	return false
}

func isBase64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ValidEnvName reports whether s is a portable environment variable name:
// [A-Za-z_][A-Za-z0-9_]*. Such a name is never taken for a secret.
func ValidEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// OpenKeyFile opens a file a stage option refers to (an identity,
// recipients, passphrase or Fernet key file); what names it in errors
// ("identity file"). A path that looks like a secret itself ([SecretKind])
// is refused with [ErrSecretForName] before anything is opened, and never
// echoed. Any other error names the path: paths are not secret.
func OpenKeyFile(what, path string) (*os.File, error) {
	if kind := SecretKind(path); kind != "" {
		return nil, fmt.Errorf("%s: %w: the value given looks like %s; give the path of a file holding it", what, ErrSecretForName, kind)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return f, nil
}

// ReadKeyFile reads the whole of a file a stage option refers to, with
// the refusals and error naming of [OpenKeyFile].
func ReadKeyFile(what, path string) ([]byte, error) {
	f, err := OpenKeyFile(what, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

// LookupSecretEnv returns the value of the environment variable a stage
// option names (a passphrase variable); what names it in errors
// ("passphrase variable"). A name that is not a valid variable name
// ([ValidEnvName]) may be the secret itself: it is refused with
// [ErrSecretForName] and never echoed. An unset or empty variable is an
// error naming it.
func LookupSecretEnv(what, name string) (string, error) {
	if !ValidEnvName(name) {
		return "", fmt.Errorf("%s: %w: %s", what, ErrSecretForName, notEnvName(name))
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return "", fmt.Errorf("%s %s is not set or empty", what, name)
	}
	return v, nil
}

// notEnvName explains, without echoing it, why name was refused as the
// name of an environment variable.
func notEnvName(name string) string {
	const want = "give the name of the environment variable holding the secret, [A-Za-z_][A-Za-z0-9_]*"
	if kind := SecretKind(name); kind != "" {
		return "the value given looks like " + kind + ", not a variable name; " + want
	}
	return "the value given is not a variable name and may be the secret itself; " + want
}
