package ccm

import (
	"errors"
	"fmt"
)

// The errors of the block API. Each maps to one error of the MirageOS V1
// block API that mirage-block-ccm implements:
//
//	Unknown of string -> *UnknownError (I/O errors, wrapped)
//	Unimplemented     -> ErrUnimplemented
//	Is_read_only      -> ErrReadOnly
//	Disconnected      -> ErrDisconnected
//	DecryptError      -> *AuthError, which matches ErrAuth under errors.Is
var (
	// ErrUnimplemented reports an operation the image does not support.
	ErrUnimplemented = errors.New("ccm: operation not implemented")
	// ErrReadOnly reports a write to an image opened read-only.
	ErrReadOnly = errors.New("ccm: image is read-only")
	// ErrDisconnected reports a call on a closed image.
	ErrDisconnected = errors.New("ccm: image is disconnected")
	// ErrAuth reports a tag that does not verify. NewCCM's Open returns it
	// as is; the image returns an *AuthError that matches it.
	ErrAuth = errors.New("ccm: message authentication failed")
)

// The argument errors. They are returned wrapped with the values that were
// wrong, so test them with errors.Is.
var (
	// ErrOutOfRange reports sectors beyond the end of the image.
	ErrOutOfRange = errors.New("ccm: sector out of range")
	// ErrNotWholeSectors reports a buffer whose length is not a multiple
	// of the sector size.
	ErrNotWholeSectors = errors.New("ccm: buffer is not a whole number of sectors")
	// ErrShrink reports a Grow to fewer sectors than the image holds.
	ErrShrink = errors.New("ccm: new size is below the capacity")
	// ErrBadParams reports a key length, tag length, nonce length or
	// sector size that the format does not allow.
	ErrBadParams = errors.New("ccm: bad parameters")
)

// AuthError reports the sectors of one read whose tags did not verify. Their
// buffers were zeroed; the other sectors of the read hold their plaintext.
type AuthError struct {
	// Sector is the first failing logical sector.
	Sector uint64
	// Count is the number of failing sectors in the read.
	Count int
}

// Error names the first failing sector and how many more failed.
func (e *AuthError) Error() string {
	if e.Count == 1 {
		return fmt.Sprintf("ccm: authentication failed at sector %d", e.Sector)
	}
	return fmt.Sprintf("ccm: authentication failed at sector %d and %d more", e.Sector, e.Count-1)
}

// Is reports whether target is ErrAuth.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// UnknownError wraps an error of the underlying file, such as an I/O error
// or a file that shrank under the image.
type UnknownError struct {
	// Op is the operation that failed: "read", "write", "flush", "close",
	// "open" or "size".
	Op string
	// Err is the underlying error.
	Err error
}

// Error returns the operation and the underlying error.
func (e *UnknownError) Error() string { return "ccm: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UnknownError) Unwrap() error { return e.Err }
