package vars

import (
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// Stock configures the variables every proxy has and that need nothing from
// it: $msec, $time_local, $time_iso8601, $hostname, $pid and $nginx_version.
// The zero value uses the real clock, the machine's host name, the process
// id and an empty version.
type Stock struct {
	// Clock returns the current time; its location is the time zone of
	// $time_local and $time_iso8601. Nil means time.Now.
	Clock func() time.Time
	// Hostname is the value of $hostname; empty means os.Hostname().
	Hostname string
	// PID is the value of $pid; 0 means os.Getpid().
	PID int
	// Version is the value of $nginx_version (Sluice reports its own
	// version there).
	Version string
}

type timeCache struct {
	sec    int64
	offset int
	local  []byte // 28/Sep/1970:12:00:00 +0600
	iso    []byte // 1970-09-28T12:00:00+06:00
}

type clockVars struct {
	now   func() time.Time
	cache atomic.Pointer[timeCache]
}

func (c *clockVars) formatted() *timeCache {
	now := c.now()
	_, off := now.Zone()
	sec := now.Unix()
	if tc := c.cache.Load(); tc != nil && tc.sec == sec && tc.offset == off {
		return tc
	}
	tc := &timeCache{
		sec:    sec,
		offset: off,
		local:  now.AppendFormat(nil, "02/Jan/2006:15:04:05 -0700"),
		iso:    now.AppendFormat(nil, "2006-01-02T15:04:05-07:00"),
	}
	c.cache.Store(tc)
	return tc
}

// AppendMsec appends t as nginx's $msec: seconds with millisecond
// resolution, "1700000000.123".
func AppendMsec(dst []byte, t time.Time) []byte {
	return appendMillis(dst, t.UnixMilli())
}

// AppendSeconds appends d as nginx prints durations such as
// $request_time and $upstream_connect_time: seconds with millisecond
// resolution, "0.012". A negative d prints as "0.000".
func AppendSeconds(dst []byte, d time.Duration) []byte {
	return appendMillis(dst, max(d.Milliseconds(), 0))
}

func appendMillis(dst []byte, ms int64) []byte {
	dst = strconv.AppendInt(dst, ms/1000, 10)
	r := ms % 1000
	return append(dst, '.', byte('0'+r/100), byte('0'+r/10%10), byte('0'+r%10))
}

// List returns a getter that prints field of each element of the slice
// items returns, separated by ", ", as nginx prints $upstream_addr and the
// other $upstream_* variables across the tries of one request. It is not
// found when the slice is empty.
func List[T, E any](items func(T) []E, field func(*E, []byte) []byte) Getter[T] {
	return func(dst []byte, ctx T) ([]byte, bool) {
		list := items(ctx)
		if len(list) == 0 {
			return dst, false
		}
		for i := range list {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = field(&list[i], dst)
		}
		return dst, true
	}
}

// DefineStock defines the stock variables on t.
func (t *Table[T]) DefineStock(s Stock) error {
	c := &clockVars{now: s.Clock}
	if c.now == nil {
		c.now = time.Now
	}
	host := s.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	pid := s.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	pidText := strconv.Itoa(pid)
	version := s.Version
	defs := []struct {
		name string
		get  Getter[T]
	}{
		{"msec", func(dst []byte, _ T) ([]byte, bool) { return AppendMsec(dst, c.now()), true }},
		{"time_local", func(dst []byte, _ T) ([]byte, bool) { return append(dst, c.formatted().local...), true }},
		{"time_iso8601", func(dst []byte, _ T) ([]byte, bool) { return append(dst, c.formatted().iso...), true }},
		{"hostname", func(dst []byte, _ T) ([]byte, bool) { return append(dst, host...), true }},
		{"pid", func(dst []byte, _ T) ([]byte, bool) { return append(dst, pidText...), true }},
		{"nginx_version", func(dst []byte, _ T) ([]byte, bool) { return append(dst, version...), true }},
	}
	for _, d := range defs {
		if err := t.Define(d.name, d.get, 0); err != nil {
			return err
		}
	}
	return nil
}
