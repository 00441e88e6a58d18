package main

import "testing"

func TestParseCmdline(t *testing.T) {
	p := parseCmdline("BOOT_IMAGE=/vmlinuz console=ttyS0 ccmblk.action=bench ccmblk.seconds=5 ccmblk.flag ccmblk.cases=a,b quiet\n")
	want := map[string]string{"action": "bench", "seconds": "5", "cases": "a,b"}
	if len(p) != len(want) {
		t.Errorf("parseCmdline = %v, want %v", p, want)
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("param %s = %q, want %q", k, p[k], v)
		}
	}
	if n, err := p.num("seconds", 3); err != nil || n != 5 {
		t.Errorf("num(seconds) = %d, %v; want 5", n, err)
	}
	if n, err := p.num("qd", 32); err != nil || n != 32 {
		t.Errorf("num(qd) = %d, %v; want the default 32", n, err)
	}
	if _, err := parseCmdline("ccmblk.seconds=x").num("seconds", 3); err == nil {
		t.Error("num accepted a non-number")
	}
	if got := p.str("disk", "vda"); got != "vda" {
		t.Errorf("str(disk) = %q, want the default vda", got)
	}
}

func TestKV(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{32768, "k=32768"},
		{"none", "k=none"},
		{"two words", `k="two words"`},
		{"", `k=""`},
		{`a"b`, `k="a\"b"`},
		{"a=b", `k="a=b"`},
	} {
		if got := kv("k", tc.v); got != tc.want {
			t.Errorf("kv(k, %q) = %s, want %s", tc.v, got, tc.want)
		}
	}
}
