package upstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/sluicelb/sluice/config"
)

// Resolver asks the name servers of an nginx resolver directive for a
// name's addresses, with their time to live (which net.Resolver does not
// give): the servers are asked in turn until one answers.
type Resolver struct {
	Servers []string      // host:port
	Valid   time.Duration // valid=: overrides the answers' TTL when set
	IPv4    bool          // ipv4=off turns A queries off
	IPv6    bool          // ipv6=off turns AAAA queries off
	Timeout time.Duration // resolver_timeout, per query
}

// ParseResolver reads the arguments of a resolver directive (addresses,
// valid=, ipv4=, ipv6=; other parameters are ignored) and the
// resolver_timeout. Names among the addresses are looked up with the
// system's resolver.
func ParseResolver(args []string, timeout time.Duration) (*Resolver, error) {
	r := &Resolver{IPv4: true, IPv6: true, Timeout: timeout}
	if r.Timeout <= 0 {
		r.Timeout = 30 * time.Second
	}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			switch k {
			case "valid":
				d, err := config.ParseSeconds(v)
				if err != nil {
					return nil, fmt.Errorf("invalid parameter: %s", a)
				}
				r.Valid = d
			case "ipv4":
				r.IPv4 = v == "on"
			case "ipv6":
				r.IPv6 = v == "on"
			}
			continue
		}
		host, port := a, "53"
		if h, p, err := net.SplitHostPort(a); err == nil {
			host, port = h, p
		}
		host = strings.Trim(host, "[]")
		if _, err := netip.ParseAddr(host); err == nil {
			r.Servers = append(r.Servers, net.JoinHostPort(host, port))
			continue
		}
		ips, err := net.LookupHost(host)
		if err != nil {
			return nil, fmt.Errorf("host not found in resolver %q", a)
		}
		for _, ip := range ips {
			r.Servers = append(r.Servers, net.JoinHostPort(ip, port))
		}
	}
	if !r.IPv4 && !r.IPv6 {
		return nil, errors.New(`"ipv4" and "ipv6" cannot both be "off"`)
	}
	return r, nil
}

// ErrNotFound is a name the servers say does not exist, or has no
// address of the families asked for.
var ErrNotFound = errors.New("host not found")

// Lookup returns the addresses of host and how long they may be kept:
// the Valid duration when set, otherwise the smallest TTL of the answers.
func (r *Resolver) Lookup(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, 0, nil
	}
	name, err := dnsmessage.NewName(strings.TrimSuffix(host, ".") + ".")
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", host, err)
	}
	var types []dnsmessage.Type
	if r.IPv4 {
		types = append(types, dnsmessage.TypeA)
	}
	if r.IPv6 {
		types = append(types, dnsmessage.TypeAAAA)
	}
	var addrs []netip.Addr
	ttl := time.Duration(-1)
	found := false
	for _, t := range types {
		got, t, err := r.query(ctx, name, t)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		found = true
		addrs = append(addrs, got...)
		if ttl < 0 || t < ttl {
			ttl = t
		}
	}
	if !found || len(addrs) == 0 {
		return nil, 0, fmt.Errorf("%s could not be resolved: %w", host, ErrNotFound)
	}
	if r.Valid > 0 {
		ttl = r.Valid
	}
	return addrs, ttl, nil
}

// query asks the servers in turn for the records of type t of name.
func (r *Resolver) query(ctx context.Context, name dnsmessage.Name, t dnsmessage.Type) ([]netip.Addr, time.Duration, error) {
	if len(r.Servers) == 0 {
		return nil, 0, errors.New("no resolver defined")
	}
	var lastErr error
	for _, srv := range r.Servers {
		addrs, ttl, err := r.ask(ctx, srv, name, t)
		if err == nil || errors.Is(err, ErrNotFound) {
			return addrs, ttl, err
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, 0, lastErr
}

// ask sends one query to srv, over UDP, and over TCP when the answer was
// truncated.
func (r *Resolver) ask(ctx context.Context, srv string, name dnsmessage.Name, t dnsmessage.Type) ([]netip.Addr, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	id := uint16(rand.Uint32())
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: name, Type: t, Class: dnsmessage.ClassINET}},
	}
	packed, err := q.Pack()
	if err != nil {
		return nil, 0, err
	}
	resp, err := exchange(ctx, "udp", srv, packed, id)
	if err == nil && resp.Header.Truncated {
		resp, err = exchange(ctx, "tcp", srv, packed, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("resolver %s: %w", srv, err)
	}
	switch resp.Header.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return nil, 0, ErrNotFound
	default:
		return nil, 0, fmt.Errorf("resolver %s: %s", srv, resp.Header.RCode)
	}
	var addrs []netip.Addr
	ttl := time.Duration(-1)
	for _, a := range resp.Answers {
		var ip netip.Addr
		switch b := a.Body.(type) {
		case *dnsmessage.AResource:
			ip = netip.AddrFrom4(b.A)
		case *dnsmessage.AAAAResource:
			ip = netip.AddrFrom16(b.AAAA)
		default:
			continue // CNAME: the chain's addresses follow in the answer
		}
		addrs = append(addrs, ip)
		if d := time.Duration(a.Header.TTL) * time.Second; ttl < 0 || d < ttl {
			ttl = d
		}
	}
	if len(addrs) == 0 {
		return nil, 0, ErrNotFound
	}
	return addrs, ttl, nil
}

// exchange sends the query msg with id to srv over network and returns
// the answer.
func exchange(ctx context.Context, network, srv string, msg []byte, id uint16) (*dnsmessage.Message, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, srv)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 64<<10)
	var n int
	if network == "tcp" {
		out := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
		if _, err := c.Write(append(out, msg...)); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(buf))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return nil, err
		}
	} else {
		if _, err := c.Write(msg); err != nil {
			return nil, err
		}
		for {
			n, err = c.Read(buf)
			if err != nil {
				return nil, err
			}
			if n >= 2 && binary.BigEndian.Uint16(buf) == id {
				break // an answer to an earlier query is skipped
			}
		}
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		return nil, err
	}
	if m.Header.ID != id || !m.Header.Response {
		return nil, errors.New("unexpected answer")
	}
	return &m, nil
}
