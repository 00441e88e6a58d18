package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ccmblk/ccmblk/ccm"
)

// wrongKeyHint is printed when logical sector 0 fails: a whole image that
// fails is far more often a wrong key or format flag than damage.
const wrongKeyHint = "sector 0 does not authenticate: wrong key, --mac-len, --nonce-len or --sector-size?"

// unwrittenHint replaces wrongKeyHint when sector 0 is unwritten (all
// zeros): the image is sparse, or was never formatted.
const unwrittenHint = "sector 0 is unwritten (all zeros): a sparse image? pass --sparse, or run ccmblock fill"

// span is the logical sectors [start, start+n).
type span struct{ start, n uint64 }

// badSectors collects the sectors that fail authentication, as spans so
// that a wrong key on a large image costs little memory. Safe for
// concurrent use.
type badSectors struct {
	mu    sync.Mutex
	spans []span // +checklocks:mu
	// sector0Unwritten makes report give unwrittenHint; see
	// explainSector0.
	sector0Unwritten bool
}

// explainSector0 finds out whether sector 0 of img is unwritten, so that
// report gives the right hint when it fails. Call it before report, once
// the workers are done.
func (b *badSectors) explainSector0(img *ccm.Image) error {
	if img.Sectors() == 0 {
		return nil
	}
	return img.Unwritten(0, 1, func(_, _ uint64) { b.sector0Unwritten = true })
}

func (b *badSectors) add(start, n uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := len(b.spans); k > 0 && b.spans[k-1].start+b.spans[k-1].n == start {
		b.spans[k-1].n += n
		return
	}
	b.spans = append(b.spans, span{start, n})
}

// merged returns the spans sorted and with adjacent ones joined.
func (b *badSectors) merged() []span {
	b.mu.Lock()
	s := slices.Clone(b.spans)
	b.mu.Unlock()
	slices.SortFunc(s, func(x, y span) int { return cmp.Compare(x.start, y.start) })
	var out []span
	for _, x := range s {
		if k := len(out); k > 0 && out[k-1].start+out[k-1].n == x.start {
			out[k-1].n += x.n
			continue
		}
		out = append(out, x)
	}
	return out
}

// count returns the number of bad sectors.
func (b *badSectors) count() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var n uint64
	for _, x := range b.spans {
		n += x.n
	}
	return n
}

// formatSpans lists spans as "3,17,20-25" (ranges inclusive).
func formatSpans(s []span) string {
	var sb strings.Builder
	for i, x := range s {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(x.start, 10))
		if x.n > 1 {
			sb.WriteByte('-')
			sb.WriteString(strconv.FormatUint(x.start+x.n-1, 10))
		}
	}
	return sb.String()
}

// report prints the bad sectors to w after prefix, and the wrong-key hint
// to hint when sector 0 is among them. It returns a *badSectorsError, or nil
// if there are none.
func (b *badSectors) report(w io.Writer, prefix string, hint io.Writer, total uint64) error {
	s := b.merged()
	if len(s) == 0 {
		return nil
	}
	fmt.Fprintf(w, "%sbad sectors: %s\n", prefix, formatSpans(s))
	if s[0].start == 0 {
		h := wrongKeyHint
		if b.sector0Unwritten {
			h = unwrittenHint
		}
		fmt.Fprintf(hint, "ccmblock: %s\n", h)
	}
	return &badSectorsError{bad: b.count(), total: total}
}

// badSectorsError is the result of a dec or check that met sectors which
// fail authentication.
type badSectorsError struct{ bad, total uint64 }

func (e *badSectorsError) Error() string {
	return fmt.Sprintf("%d of %d sectors fail authentication", e.bad, e.total)
}

// readChunk decrypts the sectors starting at start into buf. Sectors that
// fail authentication are left zeroed in buf and recorded in bad; any other
// error is returned.
func readChunk(img *ccm.Image, start uint64, buf []byte, sectorSize int, bad *badSectors) error {
	err := img.ReadSectors(start, [][]byte{buf})
	if !errors.Is(err, ccm.ErrAuth) {
		return err
	}
	n := uint64(len(buf) / sectorSize)
	from := start
	// An *AuthError names the first failing sector and how many failed; the
	// other sectors of the read hold their plaintext.
	var ae *ccm.AuthError
	if errors.As(err, &ae) && ae.Count > 0 && ae.Sector >= start && ae.Sector-start < n {
		switch {
		case uint64(ae.Count) == n:
			clear(buf)
			bad.add(start, n)
			return nil
		case ae.Count == 1:
			off := (ae.Sector - start) * uint64(sectorSize)
			clear(buf[off : off+uint64(sectorSize)])
			bad.add(ae.Sector, 1)
			return nil
		}
		from = ae.Sector
	}
	// Several sectors failed: find out which, one sector at a time.
	for s := from; s < start+n; s++ {
		off := (s - start) * uint64(sectorSize)
		sec := buf[off : off+uint64(sectorSize)]
		err := img.ReadSectors(s, [][]byte{sec})
		switch {
		case errors.Is(err, ccm.ErrAuth):
			clear(sec)
			bad.add(s, 1)
		case err != nil:
			return err
		}
	}
	return nil
}
