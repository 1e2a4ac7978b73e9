package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// redisProxy is a TCP proxy in front of Redis that counts round trips: on
// each connection, a client write that follows an answer from the server (or
// is the first) starts a new round trip; further writes before the next answer
// belong to the same one. A pipeline of N commands is therefore one round
// trip, whatever the number of commands, which is what Redis's own counters
// (commands, reads) cannot tell. Every client whose round trips are counted
// (gateway replicas, the REST floor, the MGET floor) connects through one.
//
// Connection set-up (HELLO, CLIENT SETINFO, AUTH: what go-redis sends on a
// new connection; SUBSCRIBE, which a replica sends once for its fill
// announcements) is counted apart, as handshakes: a pool filling up is not a
// cost of the query that happens to run at the same time.
//
// It adds one loopback hop to every Redis call, the same for all of them.
type redisProxy struct {
	ln         net.Listener
	target     string
	log        *slog.Logger
	turns      atomic.Int64
	handshakes atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startRedisProxy listens on a free loopback port and forwards to target.
func startRedisProxy(target string, log *slog.Logger) (*redisProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("redis proxy: %w", err)
	}
	p := &redisProxy{ln: ln, target: target, log: log, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// URL is the redis:// URL clients should use.
func (p *redisProxy) URL() string { return "redis://" + p.Addr() + "/0" }

// Addr is the proxy's HOST:PORT.
func (p *redisProxy) Addr() string { return p.ln.Addr().String() }

// Turns is the number of round trips counted so far, handshakes excluded.
func (p *redisProxy) Turns() int64 { return p.turns.Load() }

// Handshakes is the number of connection set-up round trips so far.
func (p *redisProxy) Handshakes() int64 { return p.handshakes.Load() }

// isHandshake reports whether a round trip starting with b sets up a
// connection: its first command is HELLO, AUTH, CLIENT SETINFO or (P)SUBSCRIBE.
func isHandshake(b []byte) bool {
	head := bytes.ToLower(b[:min(len(b), 48)])
	for _, cmd := range []string{"\r\nhello\r\n", "\r\nauth\r\n", "\r\nsetinfo\r\n", "\r\nsubscribe\r\n", "\r\npsubscribe\r\n"} {
		if bytes.Contains(head, []byte(cmd)) {
			return true
		}
	}
	return false
}

// Close stops accepting, closes every proxied connection and waits for the
// copying goroutines.
func (p *redisProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil // connections accepted from now on are closed at once
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *redisProxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.conns == nil {
			return false
		}
		p.conns[c] = struct{}{}
	} else if p.conns != nil {
		delete(p.conns, c)
	}
	return true
}

func (p *redisProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("redis proxy accept", "err", err)
			}
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *redisProxy) serve(c net.Conn) {
	var d net.Dialer
	s, err := d.DialContext(context.Background(), "tcp", p.target)
	if err != nil {
		p.log.Warn("redis proxy dial", "err", err)
		c.Close()
		return
	}
	if !p.track(c, true) || !p.track(s, true) {
		c.Close()
		s.Close()
		return
	}
	defer func() {
		p.track(c, false)
		p.track(s, false)
	}()
	var answered atomic.Bool
	answered.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { // server -> client
		buf := make([]byte, 64<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				answered.Store(true) // before the client can see the answer
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
		s.Close()
	})
	buf := make([]byte, 64<<10) // client -> server
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if answered.Swap(false) {
				if isHandshake(buf[:n]) {
					p.handshakes.Add(1)
				} else {
					p.turns.Add(1)
				}
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.log.Debug("redis proxy read", "err", err)
			}
			break
		}
	}
	s.Close()
	c.Close()
	wg.Wait()
}
