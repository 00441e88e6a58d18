package vmtest

import (
	"strconv"
	"strings"
)

// Marker kinds the guest prints (see tests/guest).
const (
	MarkerOK    = "CCMBLK-OK"
	MarkerFail  = "CCMBLK-FAIL"
	MarkerBench = "CCMBLK-BENCH"
	MarkerStart = "CCMBLK-START" // a bench case begins
	MarkerReady = "CCMBLK-READY" // the guest waits for the host to act
)

// Marker is one result line of the guest: a kind and key=value fields.
type Marker struct {
	Kind   string            // e.g. MarkerOK
	Fields map[string]string // values unquoted
	Line   string            // the console line, from the marker on
}

// Get returns the field k, or "" when the marker has none.
func (m Marker) Get(k string) string { return m.Fields[k] }

// ParseMarker finds a marker in a console line. Kernel messages may share
// the console, so the marker can start anywhere in the line.
func ParseMarker(line string) (Marker, bool) {
	i := strings.Index(line, "CCMBLK-")
	if i < 0 {
		return Marker{}, false
	}
	rest := line[i:]
	kind, rest, _ := strings.Cut(rest, " ")
	m := Marker{Kind: kind, Fields: map[string]string{}, Line: line[i:]}
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return m, true
		}
		k, v, ok := strings.Cut(rest, "=")
		if !ok || strings.Contains(k, " ") {
			return m, true
		}
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				m.Fields[k] = v
				return m, true
			}
			m.Fields[k], _ = strconv.Unquote(q)
			rest = v[len(q):]
			continue
		}
		val, tail, _ := strings.Cut(v, " ")
		m.Fields[k] = val
		rest = tail
	}
}
