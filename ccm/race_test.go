//go:build race

package ccm

// raceEnabled reports a -race build, under which sync.Pool drops items on
// purpose, so allocation counts say nothing about the hot path.
const raceEnabled = true
