package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// loadModules loads every .ko file of dir in name order; the initramfs names
// them so that this is dependency order (NN-name.ko).
func loadModules(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.ko"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := loadModule(name); err != nil {
			return err
		}
	}
	return nil
}

// loadModule inserts one module; one that is already loaded is fine.
func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
		return fmt.Errorf("load module %s: %v", filepath.Base(path), err)
	}
	return nil
}
