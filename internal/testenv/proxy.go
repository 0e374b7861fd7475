package testenv

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Proxy forwards a fixed TCP address to a target and can be cut and restored on the same
// address: a server (Vault, say) goes away for its clients and comes back with the same data.
type Proxy struct {
	// Addr is host:port the proxy listens on.
	Addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

// StartProxy listens on a free port of host (127.0.0.1, or an address pods can reach) and
// forwards to target until the test ends.
func StartProxy(t testing.TB, host, target string) *Proxy {
	t.Helper()
	port, err := freePort(false)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: net.JoinHostPort(host, strconv.Itoa(port)), target: target}
	p.Restore(t)
	t.Cleanup(p.Cut)
	return p
}

// Restore listens again (after Cut) and forwards new connections.
func (p *Proxy) Restore(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port can linger briefly after Cut
		if ln, err = net.Listen("tcp", p.Addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

// Cut stops listening and closes every forwarded connection: clients see the server gone.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
