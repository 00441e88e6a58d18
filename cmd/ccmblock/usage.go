package main

import (
	"fmt"
	"io"
)

const usageHead = `Usage: ccmblock COMMAND [FLAGS]

Convert disk images from/to AES-CCM encrypted images (mirage-block-ccm
format), and create, check and describe such images.

Commands:
`

const keyFlagsText = `Key and format flags (the same for every command but keygen):
  --key-file PATH    file holding the key: hex text (optional 0x) or the raw
                     16, 24 or 32 bytes; preferred over --key
  -k, --key HEX      key as hex (optional 0x); visible in the process list
  --mac-len M        CCM tag length: 4..16, even (default 16 = upstream 2.x;
                     8 reads images of upstream 1.x)
  --nonce-len N      CCM nonce length: 7..13 (default 8)
  --sector-size P    sector size in bytes: a power of two up to 4096 and
                     larger than 2(M+N) (default 512; 4096 is the other
                     common choice)
`

const usageTail = `
Run 'ccmblock help COMMAND' or 'ccmblock COMMAND -h' for one command.
Exit status: 0 success, 1 failure (including sectors that fail
authentication), 2 bad usage.
`

// commandFlags is the command-specific part of each command's usage text.
var commandFlags = map[string]string{
	"enc": `Usage: ccmblock enc -i PLAIN -o ENC --key-file PATH [flags]

Encrypt the plaintext image PLAIN into a new encrypted image ENC of exactly
twice its size. Every sector gets a fresh random nonce and adata.

  -i, --in PATH      plaintext image (size a multiple of the sector size)
  -o, --out PATH     encrypted image to write
  --force            replace ENC if it exists
  --pad              zero-pad a partial last sector instead of failing
  --sparse           leave the sectors that lie in holes of PLAIN unwritten
                     (holes in ENC, read as zeros with --sparse) instead of
                     encrypting their zeros
`,
	"dec": `Usage: ccmblock dec -i ENC -o PLAIN --key-file PATH [flags]

Decrypt the encrypted image ENC into a new plaintext image PLAIN of half its
size. Sectors that fail authentication are written as zeros and listed by
logical sector number; the exit status is then 1. PLAIN is sparse: blocks
of zeros are left as holes, as cp --sparse does.

  -i, --in PATH      encrypted image
  -o, --out PATH     plaintext image to write (mode 0600)
  --force            replace PLAIN if it exists
  --sparse           unwritten sectors (all-zero slots) read as zeros and are
                     counted apart instead of failing
`,
	"create": `Usage: ccmblock create -o ENC --size SIZE --key-file PATH [flags]

Create a new encrypted image whose every sector holds an encrypted zero
sector, so that a guest can read all of it.

  -o, --out PATH     encrypted image to write (2 x SIZE bytes)
  --size SIZE        guest-visible size: bytes, or with a suffix K, M, G, T
                     (powers of 1024, e.g. 64K, 512M, 1G); a multiple of the
                     sector size
  --force            replace ENC if it exists
  --sparse           write nothing: every sector is unwritten (a file of
                     holes, made in constant time); serve it with --sparse,
                     or run ccmblock fill before upstream reads it
`,
	"fill": `Usage: ccmblock fill -i ENC --key-file PATH [flags]

Write an encrypted zero sector into every unwritten sector (all-zero slot)
of the sparse image ENC, so that upstream mirage-block-ccm reads all of it.
Written sectors are left as they are. ENC is locked against the daemon.

  -i, --in PATH      encrypted image, changed in place
`,
	"resize": `Usage: ccmblock resize -i ENC --size SIZE --key-file PATH [flags]

Change the guest-visible size of ENC offline. New sectors are encrypted zero
sectors (holes with --sparse). Shrinking drops the sectors past SIZE and is
refused unless --shrink is given; either way it says which sectors it drops
and how many of them hold data. ENC is locked against the daemon.

  -i, --in PATH      encrypted image, changed in place
  --size SIZE        new guest-visible size (as for create)
  --sparse           new sectors are unwritten (holes)
  --shrink           allow a smaller SIZE
`,
	"check": `Usage: ccmblock check -i ENC --key-file PATH [flags]

Verify every sector of ENC and list those that fail authentication by logical
sector number; the exit status is then 1.

  -i, --in PATH      encrypted image
  --sparse           count unwritten sectors (all-zero slots) apart instead of
                     as failures
`,
	"info": `Usage: ccmblock info -i ENC [--key-file PATH] [flags]

Print the geometry of ENC for the given format flags. With a key, also say
whether sector 0 authenticates.

  -i, --in PATH      encrypted image
  --sparse           also count unwritten sectors and the bytes allocated on
                     disk; with a key, try the first written sector
`,
	"keygen": `Usage: ccmblock keygen -o FILE [--key-len BYTES] [--force]

Write a fresh random key as hex text to FILE, created with mode 0600.

  -o, --out PATH     key file to write
  --key-len BYTES    16, 24 or 32 (AES-128, -192, -256; default 32)
  --force            replace FILE if it exists
`,
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, usageHead)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n\n", "help", "show this text, or one command's")
	fmt.Fprint(w, keyFlagsText)
	fmt.Fprint(w, usageTail)
}

func printCommandUsage(w io.Writer, name string) {
	fmt.Fprint(w, commandFlags[name])
	if name != "keygen" {
		fmt.Fprint(w, "\n"+keyFlagsText)
	}
}
