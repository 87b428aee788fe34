// Package promtext reads Prometheus's text exposition format (version
// 0.0.4) strictly, for the tests of what the metrics directive writes: a
// text it accepts is one a Prometheus server reads without complaint.
package promtext

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Family is a metric: its name, TYPE, HELP and samples in order.
type Family struct {
	Name, Type, Help string
	Samples          []Sample
}

// Sample is one sample line.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Get returns the value of the sample whose labels are exactly labels
// (name, value pairs), and whether there is one.
func (f *Family) Get(labels ...string) (float64, bool) {
	for _, s := range f.Samples {
		if len(s.Labels) != len(labels)/2 {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if v, has := s.Labels[labels[i]]; !has || v != labels[i+1] {
				ok = false
				break
			}
		}
		if ok {
			return s.Value, true
		}
	}
	return 0, false
}

// Parse reads text. Beyond the format's rules it requires what Sluice
// writes: every metric has HELP then TYPE (counter or gauge) before its
// samples, which follow at once and are named exactly as the metric; no
// other comments, blank lines or timestamps; metrics sorted by name;
// label sets unique within a metric; counters not negative; the text
// ends with a line feed. The error names the line.
func Parse(text string) ([]Family, error) {
	if text == "" {
		return nil, fmt.Errorf("empty text")
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("no line feed at the end")
	}
	var fams []Family
	seen := map[string]bool{}
	series := map[string]bool{}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		errf := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, ok := strings.Cut(rest, " ")
			if !ok || !validName(name) {
				return nil, errf("bad HELP")
			}
			if seen[name] {
				return nil, errf("second HELP for %s", name)
			}
			if len(fams) > 0 && fams[len(fams)-1].Name >= name {
				return nil, errf("%s after %s: not sorted", name, fams[len(fams)-1].Name)
			}
			h, err := unescape(help, false)
			if err != nil {
				return nil, errf("%v", err)
			}
			seen[name] = true
			i++
			if i == len(lines) {
				return nil, errf("HELP without TYPE")
			}
			line = lines[i]
			typ, ok := strings.CutPrefix(line, "# TYPE "+name+" ")
			if !ok || typ != "counter" && typ != "gauge" {
				return nil, errf("want TYPE %s counter or gauge", name)
			}
			fams = append(fams, Family{Name: name, Type: typ, Help: h})
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			return nil, errf("comment or blank line")
		}
		if len(fams) == 0 {
			return nil, errf("sample before any TYPE")
		}
		f := &fams[len(fams)-1]
		name, labels, value, err := parseSample(line)
		if err != nil {
			return nil, errf("%v", err)
		}
		if name != f.Name {
			return nil, errf("sample of %s under TYPE %s", name, f.Name)
		}
		key := name + "{"
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			key += k + "=" + strconv.Quote(labels[k]) + ","
		}
		if series[key] {
			return nil, errf("repeated series")
		}
		series[key] = true
		if f.Type == "counter" && (value < 0 || math.IsNaN(value)) {
			return nil, errf("counter %v", value)
		}
		f.Samples = append(f.Samples, Sample{Labels: labels, Value: value})
	}
	for _, f := range fams {
		if len(f.Samples) == 0 {
			return nil, fmt.Errorf("%s has no samples", f.Name)
		}
	}
	return fams, nil
}

// parseSample reads `name{label="value",...} value`.
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", nil, 0, fmt.Errorf("no value")
	}
	name, rest := line[:i], line[i:]
	if !validName(name) {
		return "", nil, 0, fmt.Errorf("bad metric name")
	}
	labels = map[string]string{}
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return "", nil, 0, fmt.Errorf("bad label")
			}
			ln := rest[:eq]
			if !validLabel(ln) {
				return "", nil, 0, fmt.Errorf("bad label name %q", ln)
			}
			if _, dup := labels[ln]; dup {
				return "", nil, 0, fmt.Errorf("label %s twice", ln)
			}
			rest = rest[eq+2:]
			end := -1
			for j := 0; j < len(rest); j++ {
				if rest[j] == '\\' {
					j++
					continue
				}
				if rest[j] == '"' {
					end = j
					break
				}
			}
			if end < 0 {
				return "", nil, 0, fmt.Errorf("unterminated label value")
			}
			v, err := unescape(rest[:end], true)
			if err != nil {
				return "", nil, 0, err
			}
			labels[ln] = v
			rest = rest[end+1:]
			switch {
			case strings.HasPrefix(rest, ","):
				rest = rest[1:]
			case strings.HasPrefix(rest, "}"):
			default:
				return "", nil, 0, fmt.Errorf("want , or } after a label")
			}
		}
	}
	v, ok := strings.CutPrefix(rest, " ")
	if !ok || v == "" || strings.ContainsAny(v, " \t") {
		return "", nil, 0, fmt.Errorf("want one space and a value (no timestamp)")
	}
	switch v {
	case "+Inf":
		value = math.Inf(1)
	case "-Inf":
		value = math.Inf(-1)
	case "NaN":
		value = math.NaN()
	default:
		if value, err = strconv.ParseFloat(v, 64); err != nil || math.IsInf(value, 0) || math.IsNaN(value) || strings.ContainsAny(v, "_xXpP") {
			return "", nil, 0, fmt.Errorf("bad value %q", v)
		}
	}
	return name, labels, value, nil
}

// unescape undoes the escapes of a label value (\\, \" and \n) or of HELP
// text (\\ and \n); any other backslash, and in a label value a bare
// double quote or line feed, is an error.
func unescape(s string, label bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			i++
			if i == len(s) {
				return "", fmt.Errorf("backslash at the end of %q", s)
			}
			switch s[i] {
			case '\\':
				b.WriteByte('\\')
			case 'n':
				b.WriteByte('\n')
			case '"':
				if !label {
					return "", fmt.Errorf(`\" in HELP`)
				}
				b.WriteByte('"')
			default:
				return "", fmt.Errorf("unknown escape \\%c", s[i])
			}
		case c == '\n' || label && c == '"':
			return "", fmt.Errorf("unescaped %q", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func validLabel(s string) bool {
	return validName(s) && !strings.Contains(s, ":") && !strings.HasPrefix(s, "__")
}
