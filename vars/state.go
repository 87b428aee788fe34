package vars

// State is the per-request memory of the variable system: cached map, geo and
// split_clients results, values assigned with set, and the captures of the
// last regular expression that matched. The zero value is ready to use. A
// State is used by one request at a time; call Reset before reusing it for
// another request (pooling States avoids allocation per request).
type State struct {
	gen    uint32
	slots  []slotVal
	arena  []byte
	tmp    []byte // scratch for leaf operations (lookups); never held across evaluation
	setBuf []byte // holds the value being assigned by SetTemplate

	capSubject []byte // copy of the subject of the last regex match
	caps       []int  // start/end pairs into capSubject, $0 first

	depth int
}

type slotVal struct {
	gen      uint32 // valid when equal to State.gen+1
	found    bool
	off, len uint32
}

// maxRetained is the arena capacity a State keeps across Reset.
const maxRetained = 64 << 10

// Reset forgets every value of the previous request in O(1).
func (s *State) Reset() {
	s.gen++
	if s.gen == ^uint32(0) {
		clear(s.slots)
		s.gen = 0
	}
	if cap(s.arena) > maxRetained {
		s.arena = nil
	}
	s.arena = s.arena[:0]
	s.tmp = s.tmp[:0]
	s.capSubject = s.capSubject[:0]
	s.caps = s.caps[:0]
	s.depth = 0
}

func (s *State) load(slot int32) (val []byte, found, ok bool) {
	if int(slot) >= len(s.slots) {
		return nil, false, false
	}
	sv := &s.slots[slot]
	if sv.gen != s.gen+1 {
		return nil, false, false
	}
	return s.arena[sv.off : sv.off+sv.len], sv.found, true
}

func (s *State) store(slot int32, val []byte, found bool) {
	if int(slot) >= len(s.slots) {
		n := int(slot) + 1
		if n < 8 {
			n = 8
		}
		if n <= cap(s.slots) {
			s.slots = s.slots[:n]
		} else {
			ns := make([]slotVal, n, n+n/2)
			copy(ns, s.slots)
			s.slots = ns
		}
	}
	off := len(s.arena)
	s.arena = append(s.arena, val...)
	s.slots[slot] = slotVal{gen: s.gen + 1, found: found, off: uint32(off), len: uint32(len(val))}
}

// capture returns capture n ($1..$9) of the last regular expression match.
func (s *State) capture(n int) []byte {
	i := 2 * n
	if i+1 >= len(s.caps) || s.caps[i] < 0 {
		return nil
	}
	return s.capSubject[s.caps[i]:s.caps[i+1]]
}

func (s *State) setCaptures(subject []byte, idx []int) {
	s.capSubject = append(s.capSubject[:0], subject...)
	s.caps = append(s.caps[:0], idx...)
}

// SetCaptures records the captures of a regular expression match, as
// regexp.FindSubmatchIndex returns them for subject: "$1".."$9" of the
// templates evaluated afterwards read them. subject is copied.
func (s *State) SetCaptures(subject []byte, idx []int) { s.setCaptures(subject, idx) }

// Capture returns capture n of the last match recorded ($0 is the whole
// match), or nil. The slice is valid until the next SetCaptures or Reset.
func (s *State) Capture(n int) []byte { return s.capture(n) }
