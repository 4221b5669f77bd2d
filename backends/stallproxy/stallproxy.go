// Package stallproxy is a TCP proxy for tests that lets each client
// connection send a fixed number of bytes to the server and then stalls
// it (stops forwarding, holding the connection open) or cuts it (closes
// both sides). Put it in front of an emulator to make one target of a
// backup hang or fail midway while requests on fresh connections (small
// ones such as an abort) still get through.
package stallproxy

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Mode is what happens once a connection has used its budget.
type Mode int

const (
	// Stall stops forwarding the client's bytes and holds the connection
	// open until the proxy stops.
	Stall Mode = iota
	// Cut closes both sides of the connection.
	Cut
)

// Start proxies 127.0.0.1:<free port> to target (host:port) until the
// test ends and returns the proxy's "http://127.0.0.1:PORT". Each client
// connection forwards up to budget bytes to the server; the server's
// answers always pass.
func Start(t testing.TB, target string, budget int64, mode Mode) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, budget: budget, mode: mode, done: make(chan struct{})}
	p.wg.Add(1)
	go p.serve(l)
	t.Cleanup(func() {
		close(p.done)
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return "http://" + l.Addr().String()
}

type proxy struct {
	target string
	budget int64
	mode   Mode
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		c.Close()
		return false
	default:
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *proxy) serve(l net.Listener) {
	defer p.wg.Done()
	for {
		client, err := l.Accept()
		if err != nil {
			return
		}
		if !p.track(client) {
			return
		}
		p.wg.Add(1)
		go p.handle(client)
	}
}

func (p *proxy) handle(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer server.Close()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		io.Copy(client, server)
		client.Close()
	}()
	if _, err := io.CopyN(server, client, p.budget); err != nil {
		return
	}
	if p.mode == Stall {
		<-p.done
	}
}
