package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// checkInput refuses inputs whose size means nothing: directories, pipes,
// character devices.
func checkInput(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	m := st.Mode()
	if !m.IsRegular() && (m&fs.ModeDevice == 0 || m&fs.ModeCharDevice != 0) {
		return fmt.Errorf("%s is not a regular file or block device", path)
	}
	return nil
}

// openInput opens path for reading and returns it with its size, found by
// seeking to the end so that block devices work too.
func openInput(path string) (*os.File, uint64, error) {
	if err := checkInput(path); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return f, uint64(end), nil
}

// inputSize returns the size of the file or block device at path.
func inputSize(path string) (uint64, error) {
	f, n, err := openInput(path)
	if err != nil {
		return 0, err
	}
	return n, f.Close()
}

// output is a file being written. Unless kept, it is removed by discard, so
// that a failed run leaves no half-written output behind.
type output struct {
	path string
	f    *os.File
	kept bool
}

// createOutput creates the regular file path, sized to size bytes. An
// existing file is replaced only with force and never when it is one of the
// inputs (compared by device and inode, so links and other spellings of the
// path count).
func createOutput(path string, size uint64, force bool, perm fs.FileMode, inputs ...string) (*output, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("output: %w", err)
	case !force:
		return nil, fmt.Errorf("output %s exists; use --force to overwrite it", path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("output %s is not a regular file", path)
	default:
		for _, in := range inputs {
			if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
				return nil, fmt.Errorf("output %s is the input %s", path, in)
			}
		}
	}
	flags := os.O_RDWR | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_RDWR | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, perm)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("output %s exists; use --force to overwrite it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	o := &output{path: path, f: f}
	if size > 1<<62 {
		o.discard()
		return nil, fmt.Errorf("output %s: size %d is too large", path, size)
	}
	if err := f.Truncate(int64(size)); err != nil {
		o.discard()
		return nil, err
	}
	return o, nil
}

// discard closes and removes the output unless keep was called. It is safe
// to call after the file was closed by someone else.
func (o *output) discard() {
	if o.kept {
		return
	}
	_ = o.f.Close()
	_ = os.Remove(o.path)
}

// keep marks the output as complete, so discard leaves it alone.
func (o *output) keep() { o.kept = true }
