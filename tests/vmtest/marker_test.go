package vmtest

import "testing"

func TestParseMarker(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		kind       string
		fields     map[string]string
	}{
		{"ok", "CCMBLK-OK action=readall size=32768 ro=0 sha256=abc",
			MarkerOK, map[string]string{"action": "readall", "size": "32768", "ro": "0", "sha256": "abc"}},
		{"after kernel text", "[    1.2] x CCMBLK-OK action=write\r",
			MarkerOK, map[string]string{"action": "write\r"}},
		{"quoted", `CCMBLK-FAIL action=write err="read back of extent 0+4096 differs" x=1`,
			MarkerFail, map[string]string{"action": "write", "err": "read back of extent 0+4096 differs", "x": "1"}},
		{"escaped quote", `CCMBLK-FAIL action=none err="unknown action \"none\""`,
			MarkerFail, map[string]string{"action": "none", "err": `unknown action "none"`}},
		{"bench", "CCMBLK-BENCH case=randread4k bs=4096 qd=32 iops=1234",
			MarkerBench, map[string]string{"case": "randread4k", "bs": "4096", "qd": "32", "iops": "1234"}},
		{"no fields", "CCMBLK-OK", MarkerOK, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := ParseMarker(tc.line)
			if !ok {
				t.Fatalf("ParseMarker(%q) found no marker", tc.line)
			}
			if m.Kind != tc.kind {
				t.Errorf("kind = %q, want %q", m.Kind, tc.kind)
			}
			if len(m.Fields) != len(tc.fields) {
				t.Errorf("fields = %v, want %v", m.Fields, tc.fields)
			}
			for k, v := range tc.fields {
				if got := m.Get(k); got != v {
					t.Errorf("field %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	for _, line := range []string{"", "[    1.0] Run /init as init process", "ccmblk-ok lower case"} {
		if m, ok := ParseMarker(line); ok {
			t.Errorf("ParseMarker(%q) = %+v, want no marker", line, m)
		}
	}
}

func TestParseMarkerMalformed(t *testing.T) {
	// Truncated or garbled console lines must not panic and keep what was
	// parsed before the damage.
	for _, tc := range []struct {
		line   string
		action string
	}{
		{`CCMBLK-FAIL action=x err="unterminated`, "x"},
		{"CCMBLK-OK action=readall garbage", "readall"},
		{"CCMBLK-OK =x", ""},
		{"CCMBLK-OK action=a=b", "a=b"},
	} {
		m, ok := ParseMarker(tc.line)
		if !ok {
			t.Errorf("ParseMarker(%q) found no marker", tc.line)
			continue
		}
		if got := m.Get("action"); got != tc.action {
			t.Errorf("ParseMarker(%q): action = %q, want %q", tc.line, got, tc.action)
		}
	}
}
