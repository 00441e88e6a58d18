package qmp

import (
	"bytes"
	"encoding/json"
	"testing"
)

// seeds are inputs for both fuzz targets: good commands, every misuse
// the tests know, and framing edge cases.
var seeds = []string{
	`{"execute": "qmp_capabilities"}`,
	`{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}`,
	`{"execute": "query-version", "id": {"a": [1, 2]}}`,
	`{"execute": "query-commands"}`,
	`{"execute": "echo", "arguments": {"n": 5, "s": "x", "l": ["a"]}, "id": 7}`,
	`{"execute": "echo", "arguments": {"n": 1.5}}`,
	`{"execute": "echo", "arguments": {"n": 99999999999999999999}}`,
	`{"execute": "echo", "arguments": {"s": null}}`,
	`{"execute": 1}`,
	`{"exec-oob": "query-version"}`,
	`{"arguments": []}`,
	`[1, 2]`, `"str"`, `nul`, `}`, `{"a": "\u00e9\"}"}`,
	"{\"execute\"\n:\n\"query-version\"}\r\n{}",
	`{{{{`, `]]]]`, `{"execute": "x", "execute": "y"}`,
}

// testServer has one command, echo, with one parameter of each type.
func testServer() *Server {
	return NewServer("test", Version{Major: 1, Package: "test"}, []Command{{
		Name: "echo",
		Params: []Param{
			{Name: "n", Type: Int, Optional: true},
			{Name: "s", Type: String, Optional: true},
			{Name: "l", Type: StringList, Optional: true},
		},
		Run: func(a Args) (any, error) { return a, nil },
	}})
}

// FuzzSplitter checks that the splitter never holds more than MaxMessage
// bytes, and that it cuts a stream of valid objects exactly at their ends.
func FuzzSplitter(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s splitter
		var values [][]byte
		for _, c := range in {
			s.feed(c, func(b []byte, err error) {
				if len(b) > MaxMessage {
					t.Fatalf("value of %d bytes", len(b))
				}
				if err == nil {
					values = append(values, bytes.Clone(b))
				}
			})
		}
		// Re-split the valid objects, each followed by a space: the
		// splitter must give them back one by one.
		var objs [][]byte
		for _, v := range values {
			if v[0] == '{' && json.Valid(v) {
				objs = append(objs, v)
			}
		}
		var again splitter
		var got [][]byte
		for _, o := range objs {
			for _, c := range append(bytes.Clone(o), ' ') {
				again.feed(c, func(b []byte, err error) {
					if err != nil {
						t.Fatalf("valid object %q refused: %v", o, err)
					}
					got = append(got, bytes.Clone(b))
				})
			}
		}
		if len(got) != len(objs) {
			t.Fatalf("%d objects split into %d values", len(objs), len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], objs[i]) {
				t.Fatalf("object %q split as %q", objs[i], got[i])
			}
		}
	})
}

// FuzzHandle checks that every message gets exactly one reply line that
// is a JSON object with either "return" or an "error" of a known class.
func FuzzHandle(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	srv := testServer()
	f.Fuzz(func(t *testing.T, msg []byte, negotiated bool) {
		c := &conversation{srv: srv, negotiated: negotiated}
		out := c.handle(msg)
		if !bytes.HasSuffix(out, []byte("\r\n")) || bytes.Count(out, []byte("\n")) != 1 {
			t.Fatalf("reply %q is not one CRLF-terminated line", out)
		}
		var r struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("reply %q: %v", out, err)
		}
		switch {
		case (r.Return == nil) == (r.Error == nil):
			t.Fatalf("reply %q has not exactly one of return and error", out)
		case r.Error != nil && r.Error.Class != ClassGeneric && r.Error.Class != ClassCommandNotFound:
			t.Fatalf("reply %q: class %q", out, r.Error.Class)
		case r.Error != nil && r.Error.Desc == "":
			t.Fatalf("reply %q: empty description", out)
		}
	})
}
