package nn

import (
	"math"
	"math/rand/v2"
)

// GlorotUniform fills dst with samples from U(-r, r), r = sqrt(6 / (fanIn +
// fanOut)) (Glorot & Bengio 2010, eq. 16), which keeps activation and
// gradient variances roughly constant across tanh-like layers. For a
// weight matrix in x out use fanIn = in, fanOut = out; PyTorch Geometric
// initialises GAT's attention vectors the same way with the (1, heads, out)
// shape, i.e. fanIn = heads, fanOut = out. It panics if fanIn + fanOut <= 0
// or rng is nil, which are programming errors.
func GlorotUniform(dst []float64, fanIn, fanOut int, rng *rand.Rand) {
	if fanIn+fanOut <= 0 {
		panic("nn.GlorotUniform: fanIn + fanOut must be positive")
	}
	if rng == nil {
		panic("nn.GlorotUniform: nil rng")
	}
	r := math.Sqrt(6 / float64(fanIn+fanOut))
	for i := range dst {
		dst[i] = (2*rng.Float64() - 1) * r
	}
}

// Zeros sets dst to zero: biases start at zero (Glorot & Bengio 2010).
func Zeros(dst []float64) { clear(dst) }
