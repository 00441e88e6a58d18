package qmp

import (
	"encoding/json"
	"strconv"
)

// Type is the type of a command parameter.
type Type int

const (
	// Int is a JSON integer that fits an int64 (QAPI "int").
	Int Type = iota
	// String is a JSON string (QAPI "str").
	String
	// StringList is a JSON array of strings (QAPI "['str']").
	StringList
)

// expected is the type's name in QEMU's "expected:" errors.
func (t Type) expected() string {
	switch t {
	case Int:
		return "integer"
	case String:
		return "string"
	}
	return "array"
}

// Param is one command parameter.
type Param struct {
	Name     string
	Type     Type
	Optional bool
}

// Args are a command's checked arguments: int64, string or []string
// values by parameter name; an optional parameter not given is absent.
type Args map[string]any

// Int returns the integer argument name and whether it was given.
func (a Args) Int(name string) (int64, bool) {
	v, ok := a[name].(int64)
	return v, ok
}

// String returns the string argument name and whether it was given.
func (a Args) String(name string) (string, bool) {
	v, ok := a[name].(string)
	return v, ok
}

// Strings returns the string list argument name.
func (a Args) Strings(name string) []string {
	v, _ := a[name].([]string)
	return v
}

// Command is a QMP command.
type Command struct {
	Name   string
	Params []Param
	// Run executes the command with checked arguments and returns what
	// the reply's "return" member holds (marshalled with encoding/json;
	// nil becomes {}), or an error.
	Run func(Args) (any, error)
}

// checkArgs decodes raw against params with QEMU's checks: every given
// member must be a parameter of the right type, every mandatory parameter
// must be given.
func checkArgs(params []Param, raw map[string]json.RawMessage) (Args, *Error) {
	known := make(map[string]Param, len(params))
	for _, p := range params {
		known[p.Name] = p
	}
	for name := range raw {
		if _, ok := known[name]; !ok {
			return nil, errUnexpected(name)
		}
	}
	args := Args{}
	for _, p := range params {
		r, ok := raw[p.Name]
		if !ok {
			if !p.Optional {
				return nil, errMissing(p.Name)
			}
			continue
		}
		v, ok := decodeArg(p.Type, r)
		if !ok {
			return nil, errType(p.Name, p.Type.expected())
		}
		args[p.Name] = v
	}
	return args, nil
}

// decodeArg decodes one argument of type t. An integer is what QEMU's
// parser reads as one: digits with an optional minus sign that fit an
// int64; fractions, exponents and larger numbers are not integers.
func decodeArg(t Type, r json.RawMessage) (any, bool) {
	switch t {
	case Int:
		n, err := strconv.ParseInt(string(r), 10, 64)
		return n, err == nil
	case String:
		var s string
		return s, isString(r) && json.Unmarshal(r, &s) == nil
	}
	var list []json.RawMessage
	if len(r) == 0 || r[0] != '[' || json.Unmarshal(r, &list) != nil {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		var s string
		if !isString(e) || json.Unmarshal(e, &s) != nil {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// isString reports whether the raw JSON value r is a string (and not
// null, which encoding/json would accept for a string).
func isString(r json.RawMessage) bool { return len(r) > 0 && r[0] == '"' }
