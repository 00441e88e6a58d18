package main

import (
	"encoding/json"
	"io"
)

// capabilities is the answer to --print-capabilities, in the schema of
// QEMU's docs/interop/vhost-user.json (VHostUserBackendCapabilities, type
// "block", with the VHostUserBackendBlockFeature values this program takes).
type capabilities struct {
	Type     string   `json:"type"`
	Features []string `json:"features"`
}

func printCapabilities(w io.Writer) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(capabilities{Type: "block", Features: []string{"read-only", "blk-file"}})
}
