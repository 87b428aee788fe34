package config

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testutil"
)

const maxDuration = time.Duration(math.MaxInt64)

var timeCases = []struct {
	in string
	ok bool
	ms time.Duration // ParseTime result, when ok
}{
	{"10", true, 10 * time.Second},
	{"0", true, 0},
	{"30s", true, 30 * time.Second},
	{"500ms", true, 500 * time.Millisecond},
	{"5m", true, 5 * time.Minute},
	{"1h", true, time.Hour},
	{"1h 30m", true, 90 * time.Minute},
	{"1h30m", true, 90 * time.Minute},
	{"1h  30m  ", true, 90 * time.Minute},
	{"1d", true, 24 * time.Hour},
	{"2w", true, 14 * 24 * time.Hour},
	{"1w 2d 3h 4m 5s 6ms", true, 7*24*time.Hour + 2*24*time.Hour + 3*time.Hour + 4*time.Minute + 5*time.Second + 6*time.Millisecond},
	{"1m 500ms", true, time.Minute + 500*time.Millisecond},
	{"30s 5", true, 35 * time.Second},        // nginx adds a last bare number as seconds
	{"1h m", true, time.Hour},                // a unit without a number adds nothing
	{" 5", true, 5 * time.Second},            // a leading space is skipped
	{"1 2", true, 3 * time.Second},           // a bare number then a space counts seconds
	{"007s", true, 7 * time.Second},          // leading zeros
	{"9223372036854775s", true, maxDuration}, // fits nginx's int64 milliseconds, not a Duration: saturated
	{"", false, 0},
	{"s", false, 0},
	{"ms", false, 0},
	{"h", false, 0},
	{"30s 1h", false, 0}, // units must decrease
	{"1m 1h", false, 0},  // units must decrease
	{"1s 1s", false, 0},  // a unit once
	{"500ms 1s", false, 0},
	{"1y", false, 0}, // years and months are for times in seconds
	{"1M", false, 0},
	{"1 h", false, 0}, // a space between a number and its unit
	{"1x", false, 0},
	{"-1", false, 0},
	{"+1", false, 0},
	{"1.5s", false, 0},
	{"1S", false, 0},
	{"1H", false, 0},
	{"10\t", false, 0},
	{"9223372036854775808", false, 0}, // beyond int64
	{"9223372036854776s", false, 0},   // beyond int64 in milliseconds
	{"99999999999999999w", false, 0},
	{"9223372036854775807ms 1ms", false, 0}, // the sum overflows
}

func TestParseTime(t *testing.T) {
	for _, tc := range timeCases {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseTime(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && got != tc.ms {
			t.Errorf("ParseTime(%q) = %v, want %v", tc.in, got, tc.ms)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		want time.Duration
	}{
		{"10", true, 10 * time.Second},
		{"10s", true, 10 * time.Second},
		{"1y", true, 365 * 24 * time.Hour},
		{"1M", true, 30 * 24 * time.Hour},
		{"1y 1M 1w 1d 1h 1m 1s", true, (365+30+7+1)*24*time.Hour + time.Hour + time.Minute + time.Second},
		{"2h 5", true, 2*time.Hour + 5*time.Second},
		{"9223372036854775807", true, maxDuration}, // saturated
		{"500ms", false, 0}, // no milliseconds in a time in seconds
		{"1M 1y", false, 0},
		{"1y 1y", false, 0},
		{"", false, 0},
		{"1z", false, 0},
		{"9223372036854775807y", false, 0},
	} {
		got, err := ParseSeconds(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSeconds(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && got != tc.want {
			t.Errorf("ParseSeconds(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseSizeOffset(t *testing.T) {
	for _, tc := range []struct {
		in           string
		size, offset int64 // -1: refused
	}{
		{"0", 0, 0},
		{"10", 10, 10},
		{"16k", 16 << 10, 16 << 10},
		{"16K", 16 << 10, 16 << 10},
		{"10m", 10 << 20, 10 << 20},
		{"10M", 10 << 20, 10 << 20},
		{"2g", -1, 2 << 30},
		{"2G", -1, 2 << 30},
		{"007", 7, 7},
		{"", -1, -1},
		{"k", -1, -1},
		{"m", -1, -1},
		{"1.5k", -1, -1},
		{"-1", -1, -1},
		{"1 k", -1, -1},
		{"1kb", -1, -1},
		{"1t", -1, -1},
		{"9223372036854775807", math.MaxInt64, math.MaxInt64},
		{"9223372036854775808", -1, -1},
		{"9007199254740991k", math.MaxInt64 >> 10 << 10, math.MaxInt64 >> 10 << 10},
		{"9007199254740992k", -1, -1},
		{"8796093022207m", math.MaxInt64 >> 20 << 20, math.MaxInt64 >> 20 << 20},
		{"8796093022208m", -1, -1},
		{"8589934591g", -1, math.MaxInt64 >> 30 << 30},
		{"8589934592g", -1, -1},
	} {
		for _, f := range []struct {
			name  string
			parse func(string) (int64, error)
			want  int64
		}{{"ParseSize", ParseSize, tc.size}, {"ParseOffset", ParseOffset, tc.offset}} {
			got, err := f.parse(tc.in)
			switch {
			case f.want < 0 && err == nil:
				t.Errorf("%s(%q) = %d, want an error", f.name, tc.in, got)
			case f.want >= 0 && err != nil:
				t.Errorf("%s(%q) error %v, want %d", f.name, tc.in, err, f.want)
			case f.want >= 0 && got != f.want:
				t.Errorf("%s(%q) = %d, want %d", f.name, tc.in, got, f.want)
			}
		}
	}
}

// TestParseTimeNginx checks that nginx accepts exactly the times
// ParseTime accepts, through timer_resolution, a directive whose time is
// kept in milliseconds.
func TestParseTimeNginx(t *testing.T) {
	testutil.NeedNginx(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tc := range timeCases {
		conf := filepath.Join(dir, "t"+strconv.Itoa(i)+".conf")
		text := "events {}\ntimer_resolution " + strconv.Quote(tc.in) + ";\n"
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		ok, msg := runNginx(t, conf, dir, "")
		if ok != tc.ok {
			t.Errorf("timer_resolution %q: nginx ok=%v (%s), ParseTime ok=%v", tc.in, ok, msg, tc.ok)
		}
	}
}
