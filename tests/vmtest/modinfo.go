package vmtest

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// moduleName normalises a kernel module name: the kernel treats '-' and '_'
// alike.
func moduleName(s string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(s), ".ko"), "-", "_")
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vmtest: module %s: %v", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("vmtest: module %s has no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("vmtest: module %s: %v", path, err)
	}
	var deps []string
	for _, entry := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(entry, "depends="); ok && v != "" {
			for _, d := range strings.Split(v, ",") {
				deps = append(deps, moduleName(d))
			}
		}
	}
	return deps, nil
}

// indexModules maps module names to the .ko files under dir.
func indexModules(dir string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".ko") {
			idx[moduleName(path)] = path
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vmtest: modules in %s: %v", dir, err)
	}
	return idx, nil
}

// loadOrder returns roots and everything they depend on, each module after
// its dependencies. deps returns the direct dependencies of one module.
func loadOrder(roots []string, deps func(name string) ([]string, error)) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("vmtest: module dependency cycle at %s", name)
		}
		state[name] = visiting
		ds, err := deps(name)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[name] = done
		order = append(order, name)
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	return order, nil
}
