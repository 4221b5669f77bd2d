package backends

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

const redacted = "REDACTED"

// Redact returns rawURL with any userinfo (user and password) and the
// value of every credential-looking query parameter (access_key, secret,
// key, token, sig, signature, X-Amz-Signature, X-Amz-Credential, sas,
// password, ...) replaced by "REDACTED". A query value that is itself a URL
// with userinfo or secrets (?endpoint=http%3A%2F%2Fu%3Apw%40host) is
// redacted the same way and re-escaped, as is a value that is a bare
// authority with userinfo (?domain=u:pw@host, see [bareUserinfo]): both
// become REDACTED@host. The rest of the URL is kept as written. Every URL
// sluice prints goes through Redact.
//
// The user goes too, not just the password: it is often half of a
// credential (an access key ID) or a whole one (a token as user name).
//
// A URL that does not parse loses its whole query and userinfo, since it
// cannot be told which parts are secret.
func Redact(rawURL string) string {
	// The fragment starts at the first "#", even inside what looks like a
	// query; the query at the first "?" before it.
	rest, frag, hasFrag := strings.Cut(rawURL, "#")
	base, query, hasQuery := strings.Cut(rest, "?")
	if u, err := url.Parse(base); err == nil && u.User != nil {
		u.User = url.User(redacted)
		base = u.String()
	} else if err != nil {
		base = redactAuthority(base)
		if hasQuery {
			query = redacted
		}
	}
	out := base
	if hasQuery {
		out += "?" + redactQuery(query)
	}
	if hasFrag {
		// Fragments can carry tokens too (OAuth's implicit flow).
		out += "#" + redactQuery(frag)
	}
	return out
}

// redactAuthority hides everything before "@" in the authority of a URL
// that url.Parse rejected.
func redactAuthority(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	auth, p, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		auth = redacted + auth[i:]
	}
	if p != "" || strings.Contains(rest, "/") {
		return scheme + "://" + auth + "/" + p
	}
	return scheme + "://" + auth
}

// redactQuery replaces secret values in a raw query, keeping parameter
// order and encoding as written, except for a value that is a URL with
// secrets of its own: that one is redacted and re-escaped.
func redactQuery(q string) string {
	if q == redacted {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, hasValue := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		switch {
		case !hasValue:
		case secretParam(name):
			parts[i] = k + "=" + redacted
		default:
			dec, err := url.QueryUnescape(v)
			if err != nil {
				dec = v
			}
			if ui := bareUserinfo(dec); ui != "" {
				parts[i] = k + "=" + url.QueryEscape(redacted+dec[len(ui)-1:])
			} else if strings.Contains(dec, "://") {
				if r := Redact(dec); r != dec {
					parts[i] = k + "=" + url.QueryEscape(r)
				}
			}
		}
	}
	return strings.Join(parts, "&")
}

// bareUserinfo returns the userinfo, with its "@", of a query value that
// has no scheme but an "@": everything before the last "@", as in
// domain=u:pw@host, which an opener puts into the URL it builds. It
// returns "" for any other value. It errs towards hiding, as
// [secretParam] does: an e-mail address (gs's access_id) counts too.
func bareUserinfo(v string) string {
	if strings.Contains(v, "://") {
		return ""
	}
	if i := strings.LastIndex(v, "@"); i > 0 {
		return v[:i+1]
	}
	return ""
}

// secretValue reports whether a query value (decoded) carries a
// credential of its own, which [Redact] would hide: a URL with userinfo
// or secret query parameters, or a bare userinfo@host ([bareUserinfo]).
func secretValue(v string) bool {
	return bareUserinfo(v) != "" || (strings.Contains(v, "://") && Redact(v) != v)
}

// secretParam reports whether a query parameter name looks like it carries
// a credential. It errs towards hiding: a hidden harmless value costs less
// than a leaked key.
func secretParam(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	switch n {
	case "sig", "sas", "auth", "pass", "pwd":
		return true
	}
	for _, s := range []string{"key", "secret", "token", "passw", "signature", "credential", "private"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// scrub removes the secret parts of rawURL (a userinfo password, secret
// query values) and of the options given beside it (extra, a config's
// target entry, whose values are looked at as query values are) from
// err's message, for errors from libraries that quote the URL or the
// values they were given. errors.Is and errors.As still see err.
func scrub(err error, rawURL string, extra ...map[string]any) error {
	if err == nil {
		return nil
	}
	secrets := secretsIn(rawURL)
	for _, opts := range extra {
		q := url.Values{}
		for k, v := range opts {
			q.Set(k, fmt.Sprint(v))
		}
		if len(q) > 0 {
			secrets = append(secrets, secretsIn("x://x/?"+q.Encode())...)
		}
	}
	// A userinfo holds its password: replace the longer string first.
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		r := redacted
		switch { // a userinfo: the host stays readable
		case strings.HasSuffix(s, "@"):
			r += "@"
		case strings.HasSuffix(s, "%40"):
			r += "%40"
		}
		clean = strings.ReplaceAll(clean, s, r)
	}
	if clean == msg {
		return err
	}
	return &toldError{msg: clean, err: err}
}

// toldError is an error shown as msg, a cleaned-up text of err (secrets
// redacted, a library's wrapping dropped); errors.Is and errors.As still
// see err.
type toldError struct {
	msg string
	err error
}

func (e *toldError) Error() string { return e.msg }
func (e *toldError) Unwrap() error { return e.err }

// secretsIn returns the secret values in rawURL, raw and decoded, longest
// first: the userinfo (ending in "@"), its password, secret query values,
// the userinfo and password of a query value that is a bare
// userinfo@host ([bareUserinfo]), and the same found in query values that
// are URLs themselves.
func secretsIn(rawURL string) []string {
	var out []string
	add := func(raw string) {
		if len(raw) < 3 { // too short to be a credential, too common to replace
			return
		}
		out = append(out, raw)
		// As decoded, and as encoded again (an opener's URL is built
		// with url.Values.Encode, which need not match what was typed).
		dec, err := url.QueryUnescape(raw)
		if err != nil {
			dec = raw
		}
		for _, form := range []string{dec, url.QueryEscape(dec)} {
			if form != raw {
				out = append(out, form)
			}
		}
	}
	base, query, _ := strings.Cut(rawURL, "?")
	if _, rest, ok := strings.Cut(base, "://"); ok {
		auth, _, _ := strings.Cut(rest, "/")
		if i := strings.LastIndex(auth, "@"); i >= 0 {
			add(auth[:i+1]) // with its "@", which scrub keeps
			if _, pw, ok := strings.Cut(auth[:i], ":"); ok {
				add(pw)
			}
		}
	}
	query, _, _ = strings.Cut(query, "#")
	for _, p := range strings.Split(query, "&") {
		k, v, ok := strings.Cut(p, "=")
		name, err := url.QueryUnescape(k)
		switch {
		case !ok || err != nil:
		case secretParam(name):
			add(v)
		default:
			dec, err := url.QueryUnescape(v)
			if err != nil {
				break
			}
			if ui := bareUserinfo(dec); ui != "" {
				add(ui) // with its "@", which scrub keeps
				add(url.QueryEscape(ui))
				if _, pw, ok := strings.Cut(strings.TrimSuffix(ui, "@"), ":"); ok {
					add(pw)
					add(url.QueryEscape(pw))
				}
			} else if strings.Contains(dec, "://") {
				for _, s := range secretsIn(dec) {
					add(s)
					add(url.QueryEscape(s))
				}
			}
		}
	}
	// A userinfo holds its password: replace the longer string first.
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// urlInText matches what looks like a URL inside a message: a scheme,
// "://", and everything up to a space or a quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// RedactText returns s with every URL in it passed through [Redact], for
// messages that quote a request (Go's HTTP client says `Put
// "https://host/c/b?comp=block&sig=…": connection refused`), whose query
// can carry a credential such as an Azure SAS token.
func RedactText(s string) string { return urlInText.ReplaceAllStringFunc(s, Redact) }

// RedactOption returns the value of a target option given beside a URL
// (a config's target entry) as [Redact] would show it in the URL's query:
// REDACTED for a credential-looking name ([secretParam]), REDACTED@host
// for a bare userinfo@host, a URL value without its userinfo and secret
// query values; any other value as it is.
func RedactOption(name, value string) string {
	r := redactQuery(url.QueryEscape(name) + "=" + url.QueryEscape(value))
	_, v, _ := strings.Cut(r, "=")
	if dec, err := url.QueryUnescape(v); err == nil {
		return dec
	}
	return redacted
}
