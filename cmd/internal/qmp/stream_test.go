package qmp

import (
	"strings"
	"testing"
)

// split feeds in and returns the values and errors emitted, errors as
// "!" + text.
func split(in string) []string {
	var s splitter
	var out []string
	for i := 0; i < len(in); i++ {
		s.feed(in[i], func(b []byte, err error) {
			if err != nil {
				out = append(out, "!"+err.Error())
				return
			}
			out = append(out, string(b))
		})
	}
	return out
}

func TestSplitter(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`{"execute":"a"}{"execute":"b"}`, []string{`{"execute":"a"}`, `{"execute":"b"}`}},
		{"{\"a\":\n [1, {\"b\": \"}\"}]}\r\n", []string{"{\"a\":\n [1, {\"b\": \"}\"}]}"}},
		{`{"a":"\"}"}`, []string{`{"a":"\"}"}`}},
		{`123 foo "s"[1]`, []string{`123`, `foo`, `"s"`, `[1]`}},
		{`true{"x":1}`, []string{`true`, `{"x":1}`}},
		{`} {"x":1}`, []string{"!" + errStray.Error(), `{"x":1}`}},
		{`{"unfinished": `, nil},
	} {
		got := split(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSplitterLimits: an oversized or too deep value is refused once and
// skipped to its end; the next value is read normally.
func TestSplitterLimits(t *testing.T) {
	big := `{"execute": "` + strings.Repeat("x", MaxMessage) + `"} {"id": 1}`
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + ` {"id": 2}`
	bare := strings.Repeat("7", MaxMessage+10) + ` {"id": 3}`
	for _, c := range []struct {
		in, next string
		err      error
	}{
		{big, `{"id": 1}`, errTooLarge},
		{deep, `{"id": 2}`, errTooDeep},
		{bare, `{"id": 3}`, errTooLarge},
	} {
		got := split(c.in)
		if len(got) != 2 || got[0] != "!"+c.err.Error() || got[1] != c.next {
			t.Errorf("got %d values %.80q; want the error %v, then %s", len(got), got, c.err, c.next)
		}
	}
	// A value that never ends holds no more than MaxMessage bytes.
	var s splitter
	for range 4 * MaxMessage {
		s.feed('[', func([]byte, error) {})
		s.feed('1', func([]byte, error) {})
	}
	if cap(s.buf) > 2*MaxMessage {
		t.Fatalf("buffer grew to %d bytes", cap(s.buf))
	}
}
