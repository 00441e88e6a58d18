//go:build !race

package ccm

// raceEnabled reports a -race build (see race_test.go).
const raceEnabled = false
