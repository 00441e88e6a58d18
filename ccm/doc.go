// Package ccm implements AES-CCM and an encrypted sector store in the
// on-disk format of the OCaml library mirage-block-ccm (MirageOS), so that
// images written by either side read on the other. Linux only.
//
// # CCM
//
// NewCCM returns CCM (NIST SP 800-38C, RFC 3610) as a crypto/cipher.AEAD
// over any 16-byte block cipher, for tags of 4..16 bytes and nonces of 7..13
// bytes. It is the reference for the sector engine and is usable on its own.
//
// # Format
//
// An image is a plain file of physical sectors of P bytes with no header:
// the AES key (16, 24 or 32 bytes), the tag length M, the nonce length N and
// P travel out of band (Params). Logical sector n occupies physical sectors
// 2n and 2n+1, bytes [2nP, 2nP+2P) of the file:
//
//	ciphertext (P) | tag (M) | nonce (N) | adata (P-M-N)
//
// The ciphertext and tag are the CCM encryption of the P plaintext bytes
// under the nonce, with the adata as associated data. Every write draws a
// fresh random nonce and adata. The capacity is floor(physical sectors / 2)
// logical sectors of P bytes; a trailing odd physical sector, or a trailing
// partial one, is ignored. A sector that was never written (all zeros) does
// not authenticate, so a new image must be formatted (every sector written
// once) before it is read.
//
// # What the format protects, and what it does not
//
// Each sector is confidential and authenticated on its own: a changed bit in
// a sector's ciphertext, tag, nonce or adata makes its read fail with an
// *AuthError (ErrAuth). The sector number is not bound into the
// authentication, and there is no image-wide state, so:
//
//   - swapping or copying sector slots within an image, or between images
//     under the same key, is not detected;
//   - rolling a sector (or the whole image) back to an older version is not
//     detected.
//
// These are properties of the format, which this package keeps for
// compatibility.
//
// # Nonces and the generator
//
// A CCM nonce must never repeat under one key: two sectors sealed with the
// same nonce leak the XOR of their plaintexts and weaken their tags. Nonces
// here are random, N bytes per write, so the birthday bound applies: after
// q sector writes under one key, the chance of some repeat is about
// q^2 / 2^(8N+1). With the default N = 8 that is about 1/2 after 2^32
// writes (2 TiB written in 512-byte sectors) and 2^-17 after 2^24 writes.
// Keep the writes under one key well below 2^32, re-key by copying to a
// new image, or use a longer nonce: N = 12 moves the 1/2 point to 2^48
// writes.
//
// Nonce and adata come from an AES-128-CTR generator (a CTR DRBG without
// derivation function) held by the call: its key and starting counter are
// 32 bytes from crypto/rand, and it draws a new key after 1 MiB of output
// (about 2,000 sectors of 512 bytes). The reasons:
//
//   - crypto/rand alone is too slow for the write path: each 512-byte
//     sector needs 496 random bytes, and crypto/rand delivers well under
//     1 GB/s, while AES-CTR runs at several GB/s;
//   - the output is stored in the clear, so the generator must be unique
//     and unpredictable in advance, not secret; fresh keys from crypto/rand
//     make its output independent across keys and instances;
//   - 1 MiB per key keeps the cost of re-keying (one crypto/rand read and
//     a key schedule) under 0.1% of the work, keeps the output under one
//     key (2^16 blocks) far below any AES-CTR distinguishing bound, and
//     bounds what a leak of one generator's state predicts to 1 MiB.
//
// Generators are never shared between concurrent calls: each sits in a
// pool with the rest of a call's scratch.
//
// # Image
//
// Image implements the block API of mirage-block-ccm (info, read, write,
// flush, disconnect) with its errors mapped 1:1 (see ErrUnimplemented,
// ErrReadOnly, ErrDisconnected, AuthError, UnknownError). Reads and writes
// take a start sector and a list of buffers, each a whole number of
// sectors. They decrypt straight into, and encrypt straight from, those
// buffers; the ciphertext of a run of sectors goes through one positional
// read or write of at most 256 KiB, and the CCM work runs up to 16 sectors
// side by side in the lane kernels (assembly where the CPU allows). A read
// checks every sector of the call: a sector whose tag fails is zeroed and
// reported, the others are still returned. No heap allocation happens per
// sector.
//
// # Zeroing, sparse images and growth
//
// WriteZeroes stores encrypted zero sectors (fresh nonce and adata each,
// nothing read), and Grow appends them, so a default image stays readable
// by mirage-block-ccm. An image opened with OpenOptions.Sparse also reads
// an all-zero slot as an unwritten sector of zeros: Discard, WriteZeroes
// with unmap and Grow then punch or add holes instead. The price is that
// anyone who can write the image can zero a sector undetected (as they can
// already roll one back), and that mirage-block-ccm fails on unwritten
// sectors until they are filled. Grow may run while the image is served:
// the capacity rises only once the new slots are durable.
//
// # Trust and concurrency
//
// Image contents are untrusted: any bytes in the file yield either verified
// plaintext or an *AuthError, never a panic or unverified plaintext left in
// a caller's buffer. The key is never part of an error message. All Image
// methods are safe for concurrent use; every call works in its own scratch
// and generator. The package does not log.
package ccm
