package api

// TestSeed is the seed of an evaluation's test run: derived from the agent
// seed, the scenario's index in load.evaluationScenarios and the
// repetition, through SplitMix64 finalisers (Steele, Lea and Flood, "Fast
// splittable pseudorandom number generators", OOPSLA 2014). It does not
// depend on the controller: every controller sees the same load for a
// given (scenario, repetition), so comparisons are paired.
func TestSeed(seed uint64, scenario, repetition int) uint64 {
	return mix64(seed ^ mix64(uint64(scenario)<<32|uint64(uint32(repetition))+0x9e3779b97f4a7c15))
}

// ValidationSeed is the seed of validation run v on a scenario: the runs
// that choose the best HPA configuration and, during training, the best
// agent policy, never the test runs they are compared on.
func ValidationSeed(seed uint64, scenario, v int) uint64 {
	return TestSeed(seed^validationSeedDomain, scenario, v)
}

// validationSeedDomain separates the validation seeds from the test seeds
// (an arbitrary odd constant: the bytes of "validate").
const validationSeedDomain = 0x76616c6964617465

func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
