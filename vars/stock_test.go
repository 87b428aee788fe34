package vars

import (
	"testing"
	"time"
)

func TestAppendSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000"}, {12 * time.Millisecond, "0.012"}, {1500 * time.Millisecond, "1.500"},
		{61*time.Second + 7*time.Millisecond, "61.007"}, {-time.Second, "0.000"}, {999 * time.Microsecond, "0.000"},
	} {
		if got := string(AppendSeconds([]byte("x"), tc.d)); got != "x"+tc.want {
			t.Errorf("%v: %q, want %q", tc.d, got, "x"+tc.want)
		}
	}
}

type listCtx struct {
	State
	items []int
}

func (c *listCtx) VarState() *State { return &c.State }

func TestList(t *testing.T) {
	get := List(func(c *listCtx) []int { return c.items }, func(v *int, dst []byte) []byte {
		return append(dst, byte('0'+*v))
	})
	if _, ok := get(nil, &listCtx{}); ok {
		t.Error("empty list found")
	}
	if got, ok := get(nil, &listCtx{items: []int{1, 2, 3}}); !ok || string(got) != "1, 2, 3" {
		t.Errorf("got %q %v", got, ok)
	}
}

func TestNginxErrorAndAddBlock(t *testing.T) {
	tab := NewTable[*listCtx]()
	err := tab.AddBlock("maps", "$x", "$y", nil, "f.conf:4")
	if err == nil || err.Error() != `vars: unknown variable block "maps" in f.conf:4` {
		t.Fatalf("AddBlock: %v", err)
	}
	if got := NginxError(err).Error(); got != `unknown variable block "maps" in f.conf:4` {
		t.Errorf("NginxError: %q", got)
	}
	if got := NginxError(&Error{Msg: "m"}).Error(); got != "m" {
		t.Errorf("NginxError without a position: %q", got)
	}
	if err := tab.AddBlock("map", "$x", "$y", []Line{{Args: []string{"default", "1"}, Pos: "f.conf:5"}}, "f.conf:4"); err != nil {
		t.Errorf("map block: %v", err)
	}
}
