package balance

import (
	"slices"
	"sync"
)

// GroupSet is the set of groups one configuration built, by name, with
// the shared memory zone each upstream block named: what a status API
// reports for that configuration. Unlike the Registry, which outlives
// configurations, a GroupSet belongs to one: groups of upstream blocks
// that a reload removed, or of a configuration that failed to build, are
// not in the set of the configuration that runs.
//
// The zero value is an empty set. A GroupSet is safe for concurrent use.
type GroupSet struct {
	mu     sync.RWMutex
	groups map[string]setEntry
}

type setEntry struct {
	g    *Group
	zone string
}

// Add adds g, whose upstream block named zone ("" for none), replacing a
// group of the same name.
func (s *GroupSet) Add(g *Group, zone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		s.groups = map[string]setEntry{}
	}
	s.groups[g.Name()] = setEntry{g, zone}
}

// Group returns the group named name and its zone; g is nil when the set
// has no such group.
func (s *GroupSet) Group(name string) (g *Group, zone string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.groups[name]
	return e.g, e.zone
}

// Names returns the names of the groups in the set, sorted.
func (s *GroupSet) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.groups))
	for n := range s.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
