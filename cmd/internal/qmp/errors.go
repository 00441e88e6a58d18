package qmp

import "fmt"

// QMP error classes (QEMU's QapiErrorClass).
const (
	ClassGeneric         = "GenericError"
	ClassCommandNotFound = "CommandNotFound"
	ClassDeviceNotFound  = "DeviceNotFound"
)

// Error is a QMP error reply. A command that returns another error gets
// a GenericError with the error's text.
type Error struct {
	Class string
	Desc  string
}

func (e *Error) Error() string { return e.Class + ": " + e.Desc }

// Errorf returns a GenericError.
func Errorf(format string, args ...any) *Error {
	return &Error{Class: ClassGeneric, Desc: fmt.Sprintf(format, args...)}
}

// The argument errors, worded as QEMU's QAPI visitors word them.

func errMissing(name string) *Error { return Errorf("Parameter '%s' is missing", name) }

func errUnexpected(name string) *Error { return Errorf("Parameter '%s' is unexpected", name) }

func errType(name, want string) *Error {
	return Errorf("Invalid parameter type for '%s', expected: %s", name, want)
}

// ErrValue reports an argument of the right type whose value is refused,
// as QEMU's QERR_INVALID_PARAMETER_VALUE does.
func ErrValue(name, expects string) *Error {
	return Errorf("Parameter '%s' expects %s", name, expects)
}
