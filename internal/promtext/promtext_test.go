package promtext

import "testing"

func TestParse(t *testing.T) {
	text := "# HELP a_total Things \\\\ done\\nso far\n# TYPE a_total counter\na_total 3\n" +
		"# HELP b B\n# TYPE b gauge\nb{x=\"1\",y=\"q\\\"\\\\\\n\"} -1.5e-3\nb{x=\"2\"} NaN\nb +Inf\n"
	fams, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 2 || fams[0].Help != "Things \\ done\nso far" || fams[0].Type != "counter" || fams[1].Type != "gauge" {
		t.Fatalf("%+v", fams)
	}
	if v, ok := fams[1].Get("x", "1", "y", "q\"\\\n"); !ok || v != -1.5e-3 {
		t.Errorf("b{x=1,y=...}: %v %v", v, ok)
	}
	if _, ok := fams[1].Get("x", "1"); ok {
		t.Errorf("b{x=1} found")
	}
}

// TestParseRejects checks that each rule of the format fails the text.
func TestParseRejects(t *testing.T) {
	const head = "# HELP m M\n# TYPE m gauge\n"
	for _, text := range []string{
		"",
		head + "m 1",                          // no final line feed
		head + "m  1\n",                       // two spaces
		head + "m 1 1700000000\n",             // timestamp
		head + "m one\n",                      // value
		head + "m 0x10\n",                     // hex
		head + "m inf\n",                      // lower-case inf
		head + "n 1\n",                        // name differs from TYPE
		head + "m{a=\"1\"} 1\nm{a=\"1\"} 2\n", // repeated series
		head + "m{a=\"1\",a=\"2\"} 1\n",       // label twice
		head + "m{a=1} 1\n",                   // unquoted value
		head + "m{a=\"x\\t\"} 1\n",            // unknown escape
		head + "m{a=\"x\"\"} 1\n",             // bare quote
		head + "m{__a=\"x\"} 1\n",             // reserved label name
		head + "m{1a=\"x\"} 1\n",              // label name
		head + "m{a=\"x\" } 1\n",              // space in braces
		head + "m{a=\"x\"\n",                  // unterminated
		head + "\nm 1\n",                      // blank line
		head + "# a comment\nm 1\n",           // comment
		"m 1\n",                               // no TYPE
		"# HELP m M\nm 1\n",                   // HELP without TYPE
		"# HELP m M\n# TYPE m summary\nm 1\n",
		"# HELP m M\n# TYPE m counter\nm -1\n",
		head, // no samples
		head + "m 1\n# HELP a A\n# TYPE a gauge\na 1\n", // not sorted
		head + "m 1\n" + head + "m 2\n",                 // metric twice
		"# HELP 9m M\n# TYPE 9m gauge\n9m 1\n",
	} {
		if fams, err := Parse(text); err == nil {
			t.Errorf("%q: accepted: %+v", text, fams)
		}
	}
}
