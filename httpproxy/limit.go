package httpproxy

import (
	"fmt"
	"sync"
	"time"

	"github.com/sluicelb/sluice/vars"
)

// connZone is a limit_conn_zone: the number of requests in progress per
// key. It is safe for concurrent use.
type connZone struct {
	name string
	key  *vars.Template[*request]
	mu   sync.Mutex
	n    map[string]int
}

func newConnZone(name string, key *vars.Template[*request]) *connZone {
	return &connZone{name: name, key: key, n: map[string]int{}}
}

// acquire counts one more request for key unless max are in progress.
func (z *connZone) acquire(key []byte, max int) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.n[string(key)] >= max {
		return false
	}
	z.n[string(key)]++
	return true
}

func (z *connZone) release(key string) {
	z.mu.Lock()
	if z.n[key] <= 1 {
		delete(z.n, key)
	} else {
		z.n[key]--
	}
	z.mu.Unlock()
}

type connLimit struct {
	z *connZone
	n int
}

// reqZone is a limit_req_zone: nginx's leaky bucket per key. Rate is in
// requests per 1000 seconds (10r/s is 10000), excess in thousandths of a
// request, as nginx keeps them. It is safe for concurrent use.
type reqZone struct {
	name string
	key  *vars.Template[*request]
	rate int64
	mu   sync.Mutex
	m    map[string]*bucket
}

type bucket struct {
	excess int64 // thousandths of a request
	last   int64 // ms
}

func newReqZone(name string, key *vars.Template[*request], rate int) *reqZone {
	if rate <= 0 {
		rate = 1
	}
	return &reqZone{name: name, key: key, rate: int64(rate), m: map[string]*bucket{}}
}

type reqLimit struct {
	z     *reqZone
	burst int
	delay int // requests served without delay beyond the rate (nodelay: burst)
}

// take accounts one request for key at now. It reports false when the
// request exceeds the burst (rejected), else how long to delay it; excess
// is the bucket's excess in thousandths of a request, for the log.
func (z *reqZone) take(key []byte, now time.Time, lim reqLimit) (delay time.Duration, excess int64, ok bool) {
	ms := now.UnixMilli()
	z.mu.Lock()
	defer z.mu.Unlock()
	b := z.m[string(key)]
	if b == nil {
		if len(z.m) > 100000 {
			z.expire(ms)
		}
		z.m[string(key)] = &bucket{last: ms}
		return 0, 0, true
	}
	el := ms - b.last
	if el < -60000 {
		el = 1
	} else if el < 0 {
		el = 0
	}
	excess = b.excess - z.rate*el/1000 + 1000
	if excess < 0 {
		excess = 0
	}
	if excess > int64(lim.burst)*1000 {
		return 0, excess, false
	}
	b.excess = excess
	if el != 0 {
		b.last = ms
	}
	free := int64(lim.delay) * 1000
	if excess <= free {
		return 0, excess, true
	}
	return time.Duration((excess-free)*1000/z.rate) * time.Millisecond, excess, true
}

// excessText formats thousandths of a request as nginx logs them: "1.000".
func excessText(x int64) string {
	return fmt.Sprintf("%d.%03d", x/1000, x%1000)
}

// expire drops buckets that have drained.
func (z *reqZone) expire(ms int64) {
	for k, b := range z.m {
		if b.excess-z.rate*(ms-b.last)/1000 <= 0 {
			delete(z.m, k)
		}
	}
}
