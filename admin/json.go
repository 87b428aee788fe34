package admin

import (
	"bytes"
	"encoding/json"
)

// object is a JSON object whose members keep their order, as NGINX Plus
// writes them.
type object []member

type member struct {
	k string
	v any
}

// MarshalJSON writes o compactly, members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// only returns the members of o named in fields; nil fields means all.
func (o object) only(fields map[string]bool) object {
	if fields == nil {
		return o
	}
	out := object{}
	for _, m := range o {
		if fields[m.k] {
			out = append(out, m)
		}
	}
	return out
}

// encode marshals v; the values the API builds always marshal.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("admin: " + err.Error())
	}
	return b
}
