package backends

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-backup/sluice/pipeline"
)

// Retry and timeout policy for S3. Transient errors (5xx, throttling such
// as SlowDown, dropped connections, timeouts) are retried by the SDK's
// standard retryer with exponential backoff and jitter; each retry is
// logged at warn level. A request that still fails after the last attempt
// fails its target, which is then aborted (no object, multipart upload
// aborted).
const (
	defaultMaxAttempts = 5
	defaultMaxBackoff  = retry.DefaultMaxBackoff
	// defaultIdleTimeout bounds a stall: a connection on which nothing is
	// sent or received for this long fails (and the request is retried).
	// It never limits a transfer that keeps moving, however long.
	defaultIdleTimeout = 2 * time.Minute
	dialTimeout        = 30 * time.Second
)

// s3ResilienceOptions are the retry and timeout options of S3 targets.
var s3ResilienceOptions = []pipeline.OptionSpec{
	{Name: "max_attempts", Type: pipeline.Int, Help: "attempts per S3 request before its target fails (default: AWS_MAX_ATTEMPTS or the shared config's max_attempts, else 5)"},
	{Name: "max_backoff", Type: pipeline.Duration, Default: "20s", Help: "longest wait between retries of an S3 request"},
	{Name: "idle_timeout", Type: pipeline.Duration, Default: "2m", Help: "fail (and retry) an S3 connection on which nothing moved for this long"},
}

type loggerKey struct{}

// WithLogger returns a context carrying log, which targets opened with
// that context use for their own messages (S3 retries). Without one they
// log nothing.
func WithLogger(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, log)
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// applyResilience sets the retryer and HTTP client of an S3 client from
// opts. Call it from the options function of s3.NewFromConfig, so
// AWS_MAX_ATTEMPTS (o.RetryMaxAttempts) is already known.
func applyResilience(o *s3.Options, opts pipeline.Options, log *slog.Logger) {
	attempts := defaultMaxAttempts
	switch {
	case opts.Has("max_attempts"):
		attempts = opts.Int("max_attempts")
		o.RetryMaxAttempts = 0 // the option wins over the environment
	case o.RetryMaxAttempts != 0:
		attempts = o.RetryMaxAttempts
	}
	backoff := defaultMaxBackoff
	if opts.Has("max_backoff") {
		backoff = opts.Duration("max_backoff")
	}
	idle := defaultIdleTimeout
	if opts.Has("idle_timeout") {
		idle = opts.Duration("idle_timeout")
	}
	o.Retryer = &loggingRetryer{
		RetryerV2: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.MaxBackoff = backoff
		}),
		log: log,
	}
	o.HTTPClient = awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			dial := tr.DialContext
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &idleConn{Conn: c, idle: idle}, nil
			}
			tr.TLSHandshakeTimeout = dialTimeout
			tr.ExpectContinueTimeout = time.Second
		})
}

func checkResilience(opts pipeline.Options) error {
	if opts.Has("max_attempts") && opts.Int("max_attempts") < 1 {
		return fmt.Errorf("max_attempts: must be at least 1, got %d", opts.Int("max_attempts"))
	}
	for _, name := range []string{"max_backoff", "idle_timeout"} {
		if opts.Has(name) && opts.Duration(name) <= 0 {
			return fmt.Errorf("%s: must be positive", name)
		}
	}
	return nil
}

// loggingRetryer is the standard retryer, logging every retry it grants.
// The message carries the operation's error (status, S3 error code,
// request ID), never a request's headers, so no credential or signature.
type loggingRetryer struct {
	aws.RetryerV2
	log *slog.Logger
}

func (r *loggingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.RetryerV2.RetryDelay(attempt, err)
	if derr == nil {
		r.log.Warn("s3: transient error, retrying", "attempt", attempt, "of", r.MaxAttempts(), "delay", d.Round(time.Millisecond), "err", err)
	}
	return d, derr
}

// idleConn fails a read or write once nothing has moved in either
// direction for idle: every read or write pushes both deadlines out, so a
// long upload still being read by the server, or a response still
// arriving, never times out, while a stalled peer does.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.idle))
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.Conn.SetDeadline(time.Now().Add(c.idle))
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.Conn.SetDeadline(time.Now().Add(c.idle))
	return c.Conn.Write(p)
}
