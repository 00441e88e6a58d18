package qmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// negotiateCommand is the command that leaves capabilities negotiation.
const negotiateCommand = "qmp_capabilities"

// conversation is the protocol state of one client.
type conversation struct {
	srv *Server
	// negotiated is set once qmp_capabilities succeeded.
	negotiated bool
}

// handle runs one JSON value from the client and returns the reply line.
func (c *conversation) handle(msg []byte) []byte {
	if !json.Valid(msg) {
		var v any
		err := json.Unmarshal(msg, &v)
		return reply(nil, nil, Errorf("JSON parse error, %s", parseErrorText(err)))
	}
	var obj map[string]json.RawMessage
	if len(msg) == 0 || msg[0] != '{' || json.Unmarshal(msg, &obj) != nil {
		return reply(nil, nil, Errorf("QMP input must be a JSON object"))
	}
	id := obj["id"]
	ret, err := c.execute(obj)
	if err != nil {
		return reply(nil, id, err)
	}
	out, merr := json.Marshal(ret)
	if merr != nil {
		return reply(nil, id, Errorf("internal error: %v", merr))
	}
	return reply(out, id, nil)
}

// parseErrorText shortens encoding/json's syntax error text.
func parseErrorText(err error) string {
	if err == nil {
		return "invalid JSON"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// execute checks the members of a command object, as QEMU's
// qmp_dispatch_check_obj does, and runs the command.
func (c *conversation) execute(obj map[string]json.RawMessage) (any, *Error) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "execute":
			if !isString(obj[k]) {
				return nil, Errorf("QMP input member 'execute' must be a string")
			}
		case "arguments":
			if r := obj[k]; len(r) == 0 || r[0] != '{' {
				return nil, Errorf("QMP input member 'arguments' must be an object")
			}
		case "id":
		default:
			return nil, Errorf("QMP input member '%s' is unexpected", k)
		}
	}
	r, ok := obj["execute"]
	if !ok {
		return nil, Errorf("QMP input lacks member 'execute'")
	}
	var name string
	if err := json.Unmarshal(r, &name); err != nil {
		return nil, Errorf("QMP input member 'execute' must be a string")
	}
	if !c.negotiated && name != negotiateCommand {
		return nil, &Error{Class: ClassCommandNotFound, Desc: "Expecting capabilities negotiation with 'qmp_capabilities'"}
	}
	cmd, ok := c.srv.commands[name]
	if !ok {
		return nil, &Error{Class: ClassCommandNotFound, Desc: "The command " + name + " has not been found"}
	}
	var raw map[string]json.RawMessage
	if a, ok := obj["arguments"]; ok {
		if err := json.Unmarshal(a, &raw); err != nil {
			return nil, Errorf("QMP input member 'arguments' must be an object")
		}
	}
	args, aerr := checkArgs(cmd.Params, raw)
	if aerr != nil {
		return nil, aerr
	}
	if name == negotiateCommand {
		return c.negotiate(args)
	}
	ret, err := cmd.Run(args)
	if err != nil {
		var qe *Error
		if errors.As(err, &qe) {
			return nil, qe
		}
		return nil, Errorf("%v", err)
	}
	if ret == nil {
		ret = struct{}{}
	}
	return ret, nil
}

// negotiate runs qmp_capabilities. No capability is offered, so enabling
// any is refused with QEMU's words.
func (c *conversation) negotiate(args Args) (any, *Error) {
	if c.negotiated {
		return nil, &Error{Class: ClassCommandNotFound, Desc: "Capabilities negotiation is already complete, command ignored"}
	}
	for i, capab := range args.Strings("enable") {
		if capab != "oob" {
			return nil, Errorf("Parameter 'enable[%d]' does not accept value '%s'", i, capab)
		}
		return nil, Errorf("Capability %s not available", capab)
	}
	c.negotiated = true
	return struct{}{}, nil
}

// reply encodes a reply line: {"return": ret} or {"error": ...}, then the
// id if the command had one, as QEMU orders them.
func reply(ret json.RawMessage, id json.RawMessage, e *Error) []byte {
	var b bytes.Buffer
	if e != nil {
		desc, _ := json.Marshal(e.Desc)
		class, _ := json.Marshal(e.Class)
		b.WriteString(`{"error": {"class": `)
		b.Write(class)
		b.WriteString(`, "desc": `)
		b.Write(desc)
		b.WriteString(`}`)
	} else {
		b.WriteString(`{"return": `)
		b.Write(ret)
	}
	if id != nil {
		b.WriteString(`, "id": `)
		// One line per reply, whatever white space the id came with; it
		// was checked as JSON with its message.
		_ = json.Compact(&b, id)
	}
	b.WriteString("}\r\n")
	return b.Bytes()
}
