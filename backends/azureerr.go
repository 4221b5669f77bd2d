package backends

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// azureError is an Azure service error told in one line: what the service
// answered (status, error code, its message) and to which request. The
// SDK's own text for it is some twenty lines: the whole response, XML body
// and request id included, which buries the cause in a log and breaks
// scripts that read errors line by line.
//
// The request is named by method, scheme, host and path only: its query
// can hold a SAS token.
type azureError struct {
	resp *azcore.ResponseError
	err  error // the error that carries resp, unwrapped to keep its codes
}

func (e *azureError) Error() string {
	r := e.resp
	var b strings.Builder
	fmt.Fprintf(&b, "Azure answered %d", r.StatusCode)
	if r.ErrorCode != "" {
		b.WriteString(" " + r.ErrorCode)
	}
	if raw := r.RawResponse; raw != nil {
		if reason := statusReason(raw.Status, r.StatusCode); reason != "" {
			b.WriteString(": " + reason)
		}
		if req := raw.Request; req != nil && req.URL != nil {
			fmt.Fprintf(&b, " (%s %s://%s%s)", req.Method, req.URL.Scheme, req.URL.Host, req.URL.EscapedPath())
		}
	}
	return b.String()
}

func (e *azureError) Unwrap() error { return e.err }

// statusReason returns an HTTP status line's reason phrase, without the
// code in front of it. Azure puts its error message there ("Server failed
// to authenticate the request. …"); only its first line is kept.
func statusReason(status string, code int) string {
	reason := strings.TrimSpace(strings.TrimPrefix(status, strconv.Itoa(code)))
	reason, _, _ = strings.Cut(reason, "\n")
	return strings.TrimSpace(reason)
}

// tellAzureError returns err with any Azure service error in it told in
// one line by an [azureError], and an error without an answer (a refused
// connection, a reset) told by its request's own error ([toldError]):
// without the wrapping gocloud adds, which the bucket sluice reads
// through adds again, and with the URL redacted, since its query carries
// the SAS token. Other errors come back as they are, but for any URL
// with a credential in their text, which is redacted too.
func tellAzureError(err error) error {
	if err == nil {
		return nil
	}
	var told *azureError
	var retold *toldError
	if errors.As(err, &told) || errors.As(err, &retold) {
		return err
	}
	var resp *azcore.ResponseError
	if errors.As(err, &resp) {
		return &azureError{resp: resp, err: err}
	}
	var req *url.Error
	if errors.As(err, &req) {
		return &toldError{msg: RedactText(req.Error()), err: err}
	}
	if msg := err.Error(); RedactText(msg) != msg {
		return &toldError{msg: RedactText(msg), err: err}
	}
	return err
}
