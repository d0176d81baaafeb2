//go:build race

package nn

// The race detector makes sync.Pool (the kernels' scratch) drop items at
// random, so allocation counts are meaningless under it.
const raceEnabled = true
