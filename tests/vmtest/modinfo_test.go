package vmtest

import (
	"fmt"
	"slices"
	"testing"
)

func TestLoadOrder(t *testing.T) {
	// The dependencies of Debian 6.1's virtio modules.
	deps := map[string][]string{
		"virtio_blk":            {"virtio", "virtio_ring"},
		"virtio":                {"virtio_ring"},
		"virtio_ring":           nil,
		"virtio_pci":            {"virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"},
		"virtio_pci_modern_dev": nil,
		"virtio_pci_legacy_dev": nil,
	}
	lookup := func(name string) ([]string, error) {
		d, ok := deps[name]
		if !ok {
			return nil, fmt.Errorf("no module %s", name)
		}
		return d, nil
	}
	order, err := loadOrder([]string{"virtio_pci", "virtio_blk"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != len(deps) {
		t.Fatalf("order %v has %d modules, want %d", order, len(order), len(deps))
	}
	for name, ds := range deps {
		for _, d := range ds {
			if slices.Index(order, d) > slices.Index(order, name) {
				t.Errorf("order %v loads %s before its dependency %s", order, name, d)
			}
		}
	}

	deps["virtio_ring"] = []string{"virtio_blk"}
	if _, err := loadOrder([]string{"virtio_blk"}, lookup); err == nil {
		t.Error("loadOrder accepted a dependency cycle")
	}
	if _, err := loadOrder([]string{"nvme"}, lookup); err == nil {
		t.Error("loadOrder accepted a missing module")
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"/x/drivers/virtio/virtio_pci.ko": "virtio_pci",
		"crc32-pclmul.ko":                 "crc32_pclmul",
		"virtio-ring":                     "virtio_ring",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}
