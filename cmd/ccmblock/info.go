package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ccmblk/ccmblk/ccm"
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
// with it, the image is opened through ccm and sector 0 is tried.
func runInfo(e *env, args []string) error {
	var o options
	fs := newFlagSet("info")
	o.addKeyFlags(fs)
	o.addIn(fs)
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
	sector0 := ""
	if p.Key != nil {
		if sector0, err = trySector0(o.in, p, g); err != nil {
			return err
		}
	}
	printInfo(e.stdout, o.in, g, p, sector0)
	return nil
}

// trySector0 opens the image through ccm, checks that the engine sees the
// same geometry, and says whether logical sector 0 authenticates.
func trySector0(path string, p ccm.Params, g geometry) (string, error) {
	img, err := ccm.Open(path, p, ccm.OpenOptions{ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer img.Close()
	if img.Sectors() != g.logical || img.SectorSize() != int(g.sectorSize) {
		return "", fmt.Errorf("engine reports %d sectors of %d bytes, expected %d of %d", img.Sectors(), img.SectorSize(), g.logical, g.sectorSize)
	}
	if g.logical == 0 {
		return "none (empty image)", nil
	}
	err = img.ReadSectors(0, [][]byte{make([]byte, p.SectorSize)})
	switch {
	case err == nil:
		return "authenticates", nil
	case errors.Is(err, ccm.ErrAuth):
		return "does not authenticate (wrong key, --mac-len, --nonce-len or --sector-size?)", nil
	default:
		return "", err
	}
}

func printInfo(w io.Writer, path string, g geometry, p ccm.Params, sector0 string) {
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
	if sector0 != "" {
		fmt.Fprintf(tw, "key:\tAES-%d\n", 8*len(p.Key))
		fmt.Fprintf(tw, "sector 0:\t%s\n", sector0)
	}
	_ = tw.Flush()
}
