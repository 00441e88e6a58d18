package ccm

import "fmt"

// Defaults of the format's parameters, those of mirage-block-ccm 2.x.
const (
	// DefaultMacLen is the default CCM tag length M in bytes.
	DefaultMacLen = 16
	// DefaultNonceLen is the default CCM nonce length N in bytes.
	DefaultNonceLen = 8
	// DefaultSectorSize is the default sector size P in bytes.
	DefaultSectorSize = 512
)

// maxSectorSize bounds P so that the CTR counter of one sector stays in the
// last two bytes of the counter block, as the lane kernels require (a
// 4096-byte sector has 256 blocks plus the tag block).
const maxSectorSize = 4096

// Params are the key and the geometry of an image. They are not stored in
// the image; both sides must agree on them out of band.
type Params struct {
	Key        []byte // 16, 24 or 32 bytes: AES-128, AES-192 or AES-256
	MacLen     int    // M: CCM tag length, 4..16 and even (0 means 16)
	NonceLen   int    // N: CCM nonce length, 7..13 (0 means 8)
	SectorSize int    // P: 512 or 4096 in practice (0 means 512); see Validate
}

// Validate reports whether p describes a usable image. The sector size must
// be a power of two from 32 to 4096 bytes and, as mirage-block-ccm requires,
// larger than 2(M+N) so that a sector pair has room for the adata. Errors
// match ErrBadParams and never contain key bytes.
func (p Params) Validate() error {
	_, err := p.geometry()
	return err
}

// geometry applies the defaults and checks p.
func (p Params) geometry() (geometry, error) {
	switch len(p.Key) {
	case 16, 24, 32:
	default:
		return geometry{}, fmt.Errorf("ccm: key is %d bytes, want 16, 24 or 32: %w", len(p.Key), ErrBadParams)
	}
	m, n, s := p.MacLen, p.NonceLen, p.SectorSize
	if m == 0 {
		m = DefaultMacLen
	}
	if n == 0 {
		n = DefaultNonceLen
	}
	if s == 0 {
		s = DefaultSectorSize
	}
	if err := checkSizes(n, m); err != nil {
		return geometry{}, fmt.Errorf("%w: %w", err, ErrBadParams)
	}
	// The lane kernels work on whole 16-byte blocks and a two-byte counter.
	if s < 32 || s > maxSectorSize || s&(s-1) != 0 {
		return geometry{}, fmt.Errorf("ccm: sector size %d is not a power of two from 32 to %d: %w", s, maxSectorSize, ErrBadParams)
	}
	// mirage-block-ccm: the adata (P-M-N bytes) must be longer than the
	// tag and nonce it travels with.
	if s <= 2*(m+n) {
		return geometry{}, fmt.Errorf("ccm: sector size %d is not larger than 2*(mac length %d + nonce length %d): %w", s, m, n, ErrBadParams)
	}
	return newGeometry(s, m, n), nil
}

// checkSizes checks a CCM nonce and tag length (RFC 3610 section 2: M in
// {4, 6, ..., 16}; L = 15-N in 2..8).
func checkSizes(nonceSize, tagSize int) error {
	if tagSize < 4 || tagSize > 16 || tagSize%2 != 0 {
		return fmt.Errorf("ccm: tag length %d is not even and in 4..16", tagSize)
	}
	if nonceSize < 7 || nonceSize > 13 {
		return fmt.Errorf("ccm: nonce length %d is not in 7..13", nonceSize)
	}
	return nil
}
