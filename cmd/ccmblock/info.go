package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ccmblk/ccmblk/ccm"
	"github.com/ccmblk/ccmblk/ccm/holes"
)

// geometry is the layout of an encrypted image of a given size: logical
// sector n occupies physical sectors 2n and 2n+1; an odd last physical
// sector and a partial one are ignored, as upstream does.
type geometry struct {
	fileSize   uint64
	sectorSize uint64 // P, physical and logical
	physical   uint64 // whole physical sectors
	logical    uint64 // floor(physical/2)
	trailing   uint64 // bytes after the last whole pair
}

func newGeometry(fileSize uint64, p ccm.Params) geometry {
	ps := uint64(p.SectorSize)
	g := geometry{fileSize: fileSize, sectorSize: ps, physical: fileSize / ps}
	g.logical = g.physical / 2
	g.trailing = fileSize - g.logical*2*ps
	return g
}

// runInfo prints the geometry of an encrypted image. The key is optional;
// with it, the image is opened through ccm and sector 0 is tried. With
// --sparse, it also counts the unwritten sectors, and tries the first
// written sector instead of sector 0.
func runInfo(e *env, args []string) error {
	var o options
	fs := newFlagSet("info")
	o.addKeyFlags(fs)
	o.addIn(fs)
	o.addSparse(fs)
	p, err := o.setup(e, "info", fs, args, needIn)
	if err != nil {
		return err
	}
	defer clear(p.Key)
	size, err := inputSize(o.in)
	if err != nil {
		return err
	}
	g := newGeometry(size, p)
	var f facts
	if p.Key != nil || o.sparse {
		if f, err = probe(o.in, p, g, o.sparse); err != nil {
			return err
		}
	}
	printInfo(e.stdout, o.in, g, p, f)
	return nil
}

// facts are what info learns by opening the image.
type facts struct {
	first     string // whether the sector tried authenticates; "" without a key
	sparse    bool
	unwritten uint64
	allocated uint64 // bytes the file occupies
}

// probe opens the image through ccm, checks that the engine sees the same
// geometry, counts the unwritten sectors if sparse, and with a key says
// whether sector 0 (sparse: the first written sector) authenticates.
func probe(path string, p ccm.Params, g geometry, sparse bool) (facts, error) {
	f := facts{sparse: sparse}
	key := p.Key
	if key == nil {
		// Counting unwritten sectors decrypts nothing: any key of a valid
		// length opens the image for it.
		p.Key = make([]byte, 16)
	}
	img, err := ccm.Open(path, p, ccm.OpenOptions{ReadOnly: true, Sparse: sparse})
	if err != nil {
		return f, err
	}
	defer img.Close()
	if img.Sectors() != g.logical || img.SectorSize() != int(g.sectorSize) {
		return f, fmt.Errorf("engine reports %d sectors of %d bytes, expected %d of %d", img.Sectors(), img.SectorSize(), g.logical, g.sectorSize)
	}
	if sparse {
		if err := img.Unwritten(0, g.logical, func(_, n uint64) { f.unwritten += n }); err != nil {
			return f, err
		}
		a, err := holes.Allocated(path)
		if err != nil {
			return f, err
		}
		f.allocated = uint64(a)
	}
	if key != nil {
		f.first, err = tryFirst(img, sparse)
	}
	return f, err
}

// tryFirst says whether sector 0, or with sparse the first written sector,
// authenticates.
func tryFirst(img *ccm.Image, sparse bool) (string, error) {
	if img.Sectors() == 0 {
		return "none (empty image)", nil
	}
	var s uint64
	if sparse {
		first, ok, err := img.FirstWritten()
		if err != nil {
			return "", err
		}
		if !ok {
			return "none (no sector written yet)", nil
		}
		s = first
	}
	err := img.ReadSectors(s, [][]byte{make([]byte, img.SectorSize())})
	switch {
	case err == nil && sparse:
		return fmt.Sprintf("%d, authenticates", s), nil
	case err == nil:
		return "authenticates", nil
	case errors.Is(err, ccm.ErrAuth) && sparse:
		return fmt.Sprintf("%d, does not authenticate (wrong key, --mac-len, --nonce-len or --sector-size?)", s), nil
	case errors.Is(err, ccm.ErrAuth):
		var bad badSectors
		if err := bad.explainSector0(img); err != nil {
			return "", err
		}
		if bad.sector0Unwritten {
			return "unwritten (all zeros): a sparse image? pass --sparse", nil
		}
		return "does not authenticate (wrong key, --mac-len, --nonce-len or --sector-size?)", nil
	default:
		return "", err
	}
}

func printInfo(w io.Writer, path string, g geometry, p ccm.Params, f facts) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "image:\t%s\n", path)
	fmt.Fprintf(tw, "file size:\t%d bytes (%s)\n", g.fileSize, humanBytes(g.fileSize))
	fmt.Fprintf(tw, "physical sector size:\t%d\n", g.sectorSize)
	fmt.Fprintf(tw, "physical sectors:\t%d\n", g.physical)
	fmt.Fprintf(tw, "logical sector size:\t%d\n", g.sectorSize)
	fmt.Fprintf(tw, "logical sectors:\t%d\n", g.logical)
	fmt.Fprintf(tw, "guest-visible size:\t%d bytes (%s)\n", g.logical*g.sectorSize, humanBytes(g.logical*g.sectorSize))
	fmt.Fprintf(tw, "mac length (M):\t%d\n", p.MacLen)
	fmt.Fprintf(tw, "nonce length (N):\t%d\n", p.NonceLen)
	fmt.Fprintf(tw, "adata length (P-M-N):\t%d\n", p.SectorSize-p.MacLen-p.NonceLen)
	fmt.Fprintf(tw, "trailing ignored bytes:\t%d\n", g.trailing)
	if f.sparse {
		fmt.Fprintf(tw, "unwritten sectors:\t%d of %d\n", f.unwritten, g.logical)
		fmt.Fprintf(tw, "allocated on disk:\t%d bytes (%s)\n", f.allocated, humanBytes(f.allocated))
	}
	if f.first != "" {
		fmt.Fprintf(tw, "key:\tAES-%d\n", 8*len(p.Key))
		label := "sector 0"
		if f.sparse {
			label = "first written sector"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", label, f.first)
	}
	_ = tw.Flush()
}
