package main

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// Linux input event codes (linux/input-event-codes.h) and the size of a
// struct input_event on amd64 (a 16-byte timeval, type, code, value).
const (
	evKey          = 1
	keyPower       = 116
	inputEventSize = 24
)

// waitPowerButton waits until a key device of /dev/input reports KEY_POWER
// pressed: the ACPI power button, which QEMU's system_powerdown (libvirt's
// virsh shutdown) presses. It fails after limit.
func waitPowerButton(limit time.Duration) error {
	devs, err := filepath.Glob("/dev/input/event*")
	if err != nil || len(devs) == 0 {
		return errors.New("no /dev/input/event* device: power button driver not loaded")
	}
	pressed := make(chan struct{}, 1)
	for _, dev := range devs {
		f, err := os.Open(dev)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, inputEventSize)
			for {
				if _, err := f.Read(buf); err != nil {
					return
				}
				typ := binary.LittleEndian.Uint16(buf[16:])
				code := binary.LittleEndian.Uint16(buf[18:])
				value := int32(binary.LittleEndian.Uint32(buf[20:]))
				if typ == evKey && code == keyPower && value == 1 {
					select {
					case pressed <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	select {
	case <-pressed:
		return nil
	case <-time.After(limit):
		return errors.New("no power button press from the host")
	}
}
