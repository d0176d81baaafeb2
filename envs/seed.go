package envs

// MixSeed scrambles a seed with the SplitMix64 finaliser (Steele et al.
// 2014), so that consecutive seeds (episode 1, 2, 3...) give unrelated
// random streams and starts.
func MixSeed(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
