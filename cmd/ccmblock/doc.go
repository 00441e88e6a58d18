// Command ccmblock converts disk images to and from the AES-CCM encrypted
// image format of mirage-block-ccm (see package ccm), and creates, checks and
// describes such images.
//
// Subcommands:
//
//	enc     plaintext image -> encrypted image (exactly twice the size)
//	dec     encrypted image -> plaintext image (half the size)
//	create  new encrypted image whose every sector holds encrypted zeros
//	        (--sparse: every sector unwritten, a file of holes)
//	fill    write encrypted zeros into every unwritten sector
//	resize  grow (encrypted zeros, or holes) or shrink an image offline
//	check   verify every sector of an encrypted image
//	info    print the geometry of an encrypted image
//	keygen  write a fresh random key as hex text to a file (mode 0600)
//
// Unwritten sectors are slots of all zeros, which a sparse image (served
// with vhost-user-blk-ccm --sparse) reads as zeros. check, dec and info
// take --sparse to count them apart from bad sectors, skipping the file's
// holes without reading them; enc --sparse leaves the input's holes
// unwritten; dec always leaves zero blocks out of its output (holes). fill
// and resize take the daemon's image lock.
//
// enc and dec take the flags of upstream's ccmblock tool (-k/--key HEX with an
// optional 0x prefix, -i/--in, -o/--out) and produce the same images. The
// key is better given with --key-file, which keeps it out of the process
// list; --key prints a warning. A key file holds hex text (optional 0x,
// surrounding whitespace ignored) or the raw 16, 24 or 32 key bytes.
//
// Differences from upstream's tool, all on the side of caution:
//   - An existing output file is replaced only with --force, and never when
//     it is the input. Outputs are truncated to their exact size.
//   - dec does not stop at the first sector that fails authentication: it
//     writes zeros for every such sector, lists them all by logical sector
//     number and exits with status 1.
//   - A plaintext image whose size is not a multiple of the sector size is
//     refused by enc. Upstream's result depends on the mirage-block-unix
//     version underneath (older ones drop the partial tail sector silently,
//     newer ones read it zero-padded or fail with O_DIRECT); --pad selects
//     the zero-padded result explicitly.
//   - --mac-len, --nonce-len and --sector-size choose the format parameters
//     (upstream's tool uses its library's defaults: M=8 in 1.x, M=16 in 2.x,
//     N=8, 512-byte sectors).
//
// Inputs and outputs are regular files (an input may also be a block
// device). The work is done in chunks of 1 MiB of plaintext, spread over
// GOMAXPROCS goroutines. Progress is shown on stderr when it is a terminal.
//
// Exit status: 0 on success, 1 on failure (including sectors that fail
// authentication), 2 on bad usage. Linux only.
package main
