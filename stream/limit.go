package stream

import (
	"sync"

	"github.com/sluicelb/sluice/vars"
)

// zone is a limit_conn_zone: the number of open sessions per key. A zone
// belongs to one generation; sessions release their slot on the zone that
// admitted them. It is safe for concurrent use.
type zone struct {
	name string
	key  *vars.Template[*session]

	mu    sync.Mutex
	count map[string]int
}

func newZone(name string, key *vars.Template[*session]) *zone {
	return &zone{name: name, key: key, count: map[string]int{}}
}

// acquire takes a slot for key unless limit slots are taken; it reports
// whether it did.
func (z *zone) acquire(key []byte, limit int) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	n := z.count[string(key)]
	if n >= limit {
		return false
	}
	z.count[string(key)] = n + 1
	return true
}

func (z *zone) release(key string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if n := z.count[key] - 1; n > 0 {
		z.count[key] = n
	} else {
		delete(z.count, key)
	}
}
