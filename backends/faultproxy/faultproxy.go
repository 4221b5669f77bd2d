// Package faultproxy is an HTTP reverse proxy for tests that sits between
// a client and a server (sluice and an S3 server) on 127.0.0.1 and injects
// faults at chosen requests: error responses (500, 503 SlowDown),
// connection resets and stalls, before or after a number of bytes of the
// request or response body.
//
// Rules are matched in the order they were added; the first rule whose
// match fires decides the request. A proxy without rules forwards every
// request unchanged (the Host header is kept, so request signatures stay
// valid).
package faultproxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Kind is the kind of fault to inject.
type Kind int

const (
	// Status answers with an HTTP error status and an S3-style XML error
	// body, after reading the whole request body.
	Status Kind = iota
	// Reset resets the client connection (TCP RST). With AfterBytes it
	// happens after that many bytes of the request body (for requests with
	// a body) or of the upstream response body (for the others).
	Reset
	// Stall stops the exchange and holds the connection open without
	// sending or reading anything until the client gives up or the proxy
	// closes. AfterBytes is counted as for Reset.
	Stall
)

// Fault is what a rule injects.
type Fault struct {
	Kind Kind
	// Code is the HTTP status for Status faults (default 500).
	Code int
	// ErrorCode is the S3 error code in the body ("SlowDown",
	// "InternalError"; default from Code).
	ErrorCode string
	// AfterBytes delays a Reset or Stall until that many body bytes passed.
	AfterBytes int64
}

// Rule selects requests and the fault to inject into them.
type Rule struct {
	// Method matches the HTTP method; "" matches any.
	Method string
	// Query matches requests whose query has this parameter ("uploads",
	// "partNumber=2", "uploadId"); "" matches any.
	Query string
	// Suffix matches requests whose path ends with it (".age" for an
	// object, not its ".sluice.json" manifest); "" matches any.
	Suffix string
	// Contains matches requests whose path contains it; "" matches any.
	Contains string
	// Skip lets the first Skip matching requests through untouched.
	Skip int
	// Times is how many matching requests get the fault after the skipped
	// ones; 0 means every one.
	Times int
	// Fault is what to inject.
	Fault Fault

	seen, fired int
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's endpoint, http://127.0.0.1:PORT.
	URL string

	upstream *url.URL
	rp       *httputil.ReverseProxy
	srv      *http.Server
	ln       net.Listener

	mu       sync.Mutex
	rules    []*Rule
	injected int
	log      []string
	closing  chan struct{}
	conns    map[net.Conn]bool
}

// Start starts a proxy to upstream (an http:// URL) on 127.0.0.1 that is
// closed when the test ends.
func Start(t testing.TB, upstream string) *Proxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("faultproxy: upstream: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{
		URL:      "http://" + ln.Addr().String(),
		upstream: u,
		ln:       ln,
		closing:  make(chan struct{}),
		conns:    map[net.Conn]bool{},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // signed by the client
		},
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go p.srv.Serve(ln)
	t.Cleanup(p.Close)
	return p
}

// Add appends rules.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range rules {
		r := rules[i]
		p.rules = append(p.rules, &r)
	}
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Injected returns how many faults were injected so far.
func (p *Proxy) Injected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected
}

// Log returns one line per request seen: "METHOD /path?query", with
// " -> FAULT" appended for faulted ones.
func (p *Proxy) Log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// Close stops the proxy and releases every stalled connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	select {
	case <-p.closing:
		p.mu.Unlock()
		return
	default:
	}
	close(p.closing)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.srv.Close()
}

// pick returns the fault for r, if a rule fires.
func (p *Proxy) pick(r *http.Request) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := r.Method + " " + r.URL.RequestURI()
	for _, rule := range p.rules {
		if !rule.matches(r) {
			continue
		}
		rule.seen++
		if rule.seen <= rule.Skip || (rule.Times > 0 && rule.fired >= rule.Times) {
			continue
		}
		rule.fired++
		p.injected++
		p.log = append(p.log, line+" -> "+rule.Fault.String())
		return rule.Fault, true
	}
	p.log = append(p.log, line)
	return Fault{}, false
}

func (r *Rule) matches(req *http.Request) bool {
	if r.Method != "" && r.Method != req.Method {
		return false
	}
	if r.Suffix != "" && !strings.HasSuffix(req.URL.Path, r.Suffix) {
		return false
	}
	if r.Contains != "" && !strings.Contains(req.URL.Path, r.Contains) {
		return false
	}
	if r.Query != "" {
		k, v, hasValue := strings.Cut(r.Query, "=")
		q := req.URL.Query()
		if !q.Has(k) || (hasValue && q.Get(k) != v) {
			return false
		}
	}
	return true
}

// String describes the fault for logs.
func (f Fault) String() string {
	switch f.Kind {
	case Status:
		return fmt.Sprintf("status %d %s", f.code(), f.errorCode())
	case Reset:
		return fmt.Sprintf("reset after %d bytes", f.AfterBytes)
	case Stall:
		return fmt.Sprintf("stall after %d bytes", f.AfterBytes)
	}
	return "unknown fault"
}

func (f Fault) code() int {
	if f.Code == 0 {
		return http.StatusInternalServerError
	}
	return f.Code
}

func (f Fault) errorCode() string {
	switch {
	case f.ErrorCode != "":
		return f.ErrorCode
	case f.code() == http.StatusServiceUnavailable:
		return "SlowDown"
	}
	return "InternalError"
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	f, ok := p.pick(r)
	if !ok {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch f.Kind {
	case Status:
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Connection", "close")
		w.WriteHeader(f.code())
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected by faultproxy</Message><RequestId>faultproxy</RequestId></Error>`, f.errorCode())
	case Reset, Stall:
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			// Fault in the request body: take AfterBytes, then act.
			io.CopyN(io.Discard, r.Body, f.AfterBytes)
			p.breakConn(w, f.Kind, nil, false)
			return
		}
		p.faultResponse(w, r, f)
	}
}

// faultResponse fetches the upstream response and breaks the connection
// after f.AfterBytes of its body.
func (p *Proxy) faultResponse(w http.ResponseWriter, r *http.Request, f Fault) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.upstream.Scheme, p.upstream.Host
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	p.breakConn(w, f.Kind, func(bw *bufio.Writer) {
		fmt.Fprintf(bw, "HTTP/1.1 %s\r\n", resp.Status)
		resp.Header.Del("Connection")
		resp.Header.Write(bw)
		if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") == "" {
			fmt.Fprintf(bw, "Content-Length: %s\r\n", strconv.FormatInt(resp.ContentLength, 10))
		}
		bw.WriteString("\r\n")
		io.CopyN(bw, resp.Body, f.AfterBytes)
	}, true)
}

// breakConn hijacks the client connection, writes what prefix writes,
// then resets or stalls it. A stall stops reading the client unless
// watch is set, when what the client sends is discarded to notice it
// hanging up.
func (p *Proxy) breakConn(w http.ResponseWriter, kind Kind, prefix func(*bufio.Writer), watch bool) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(fmt.Sprintf("faultproxy: hijack: %v", err))
	}
	if prefix != nil {
		prefix(rw.Writer)
		rw.Flush()
	}
	if kind == Reset {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // close sends RST
		}
		conn.Close()
		return
	}
	p.mu.Lock()
	p.conns[conn] = true
	p.mu.Unlock()
	// Hold until the client hangs up or the proxy closes.
	done := make(chan struct{})
	if watch {
		go func() {
			io.Copy(io.Discard, conn)
			close(done)
		}()
	}
	select {
	case <-done:
	case <-p.closing:
	}
	p.mu.Lock()
	delete(p.conns, conn)
	p.mu.Unlock()
	conn.Close()
}
