// Package dnstest is a name server for tests: it answers A and AAAA
// queries over UDP on loopback from a table the test changes, and says
// NXDOMAIN for other names.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server is a running name server.
type Server struct {
	pc      net.PacketConn
	mu      sync.Mutex
	records map[string][]netip.Addr // name without the final dot
	ttl     uint32
	queries atomic.Int64
	types   sync.Map // dnsmessage.Type → true
}

// Start starts a server on 127.0.0.1, stopped when the test ends. Its
// answers have a TTL of one second until SetTTL says otherwise.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{pc: pc, records: map[string][]netip.Addr{}, ttl: 1}
	go s.serve()
	t.Cleanup(func() { pc.Close() })
	return s
}

// Addr is the server's address, host:port.
func (s *Server) Addr() string { return s.pc.LocalAddr().String() }

// Close stops the server.
func (s *Server) Close() { s.pc.Close() }

// SetTTL sets the TTL of the answers, in seconds.
func (s *Server) SetTTL(ttl uint32) {
	s.mu.Lock()
	s.ttl = ttl
	s.mu.Unlock()
}

// Set makes name resolve to addrs; with no addrs, name no longer exists.
func (s *Server) Set(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(addrs) == 0 {
		delete(s.records, name)
		return
	}
	var list []netip.Addr
	for _, a := range addrs {
		list = append(list, netip.MustParseAddr(a))
	}
	s.records[name] = list
}

// Queries returns the number of queries answered.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Asked reports whether a query of type t was received since the last
// Forget.
func (s *Server) Asked(t dnsmessage.Type) bool {
	_, ok := s.types.Load(t)
	return ok
}

// Forget forgets the query types received.
func (s *Server) Forget() { s.types.Clear() }

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var q dnsmessage.Message
		if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
			continue
		}
		s.queries.Add(1)
		qq := q.Questions[0]
		s.types.Store(qq.Type, true)
		name := strings.TrimSuffix(qq.Name.String(), ".")
		s.mu.Lock()
		addrs, ok := s.records[name]
		ttl := s.ttl
		s.mu.Unlock()
		resp := dnsmessage.Message{Header: dnsmessage.Header{ID: q.Header.ID, Response: true}, Questions: q.Questions}
		if !ok {
			resp.Header.RCode = dnsmessage.RCodeNameError
		}
		for _, a := range addrs {
			h := dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: ttl}
			switch {
			case a.Is4() && qq.Type == dnsmessage.TypeA:
				h.Type = dnsmessage.TypeA
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.As4()}})
			case a.Is6() && qq.Type == dnsmessage.TypeAAAA:
				h.Type = dnsmessage.TypeAAAA
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
			}
		}
		out, err := resp.Pack()
		if err == nil {
			s.pc.WriteTo(out, from)
		}
	}
}
