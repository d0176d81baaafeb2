package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// needLen reports an error if s holds fewer than n values.
func needLen(what string, s []float64, n int) error {
	if len(s) < n {
		return fmt.Errorf("%s has %d values, need %d", what, len(s), n)
	}
	return nil
}

// positive reports an error unless every v is > 0.
func positive(what string, vs ...int) error {
	for _, v := range vs {
		if v <= 0 {
			// Copy so that vs does not escape and the happy path stays
			// allocation-free.
			return fmt.Errorf("%s must be positive, got %v", what, append([]int(nil), vs...))
		}
	}
	return nil
}

// scratchOf returns scratch[:n], allocating if scratch is too short.
func scratchOf(scratch []float64, n int) []float64 {
	if len(scratch) < n {
		return make([]float64, n)
	}
	return scratch[:n]
}

// matrixShape returns the (rows, cols) of a matrix node.
func matrixShape(n *G.Node, what string) (rows, cols int, err error) {
	s, err := nodeShape(n, what)
	if err != nil {
		return 0, 0, err
	}
	if s.Dims() != 2 {
		return 0, 0, fmt.Errorf("%s must be a matrix, has shape %v", what, s)
	}
	if err := float64Node(n, what); err != nil {
		return 0, 0, err
	}
	return s[0], s[1], nil
}

// checkVector checks that n is a float64 vector of length want.
func checkVector(n *G.Node, what string, want int) error {
	s, err := nodeShape(n, what)
	if err != nil {
		return err
	}
	if s.Dims() != 1 || s[0] != want {
		return fmt.Errorf("%s must be a vector of length %d, has shape %v", what, want, s)
	}
	return float64Node(n, what)
}

func float64Node(n *G.Node, what string) error {
	if dt := n.Dtype(); dt != tensor.Float64 {
		return fmt.Errorf("%s has dtype %v, want float64", what, dt)
	}
	return nil
}

// biasShape returns the input shapes of (x, w[, b]) style layers.
func withBias(shapes []tensor.Shape, bias bool, n int) []tensor.Shape {
	if bias {
		shapes = append(shapes, tensor.Shape{n})
	}
	return shapes
}
