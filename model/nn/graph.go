package nn

import (
	"fmt"
	"hash/fnv"
	"math"
)

// Graph is a service-call graph prepared for message passing: the directed
// call edges are symmetrised and self-looped once, at construction, into the
// normalised adjacency GCN needs and the neighbour lists GAT attends over.
//
// Why undirected: a call edge u -> v couples both services. Load flows
// downstream (u's request rate drives v's), while saturation flows upstream
// (v's latency and errors show up in u's response times and retries), so the
// encoder must let messages travel both ways. With directed messages an
// entry service with no in-edges (the frontend) would only ever see its own
// features, and GCN's propagation rule is derived from the spectrum of a
// symmetric normalised Laplacian (Kipf & Welling 2017, sec. 2), so it needs
// a symmetric A. The self-loop keeps each node's own state in its update.
//
// A Graph is immutable and may be shared by any number of layers and
// goroutines.
type Graph struct {
	n     int
	edges [][2]int
	// start and nbr are the CSR neighbour lists of S = A or Aᵀ or I: the
	// neighbours of node i are nbr[start[i]:start[i+1]], sorted, including i.
	start []int
	nbr   []int
	adj   *Adjacency
}

// Adjacency is the GCN propagation matrix Â = D^-1/2 (A + Aᵀ + I) D^-1/2 of a
// Graph (Kipf & Welling 2017, eq. 2), dense N x N row-major. A is the 0/1
// matrix of the directed edges and A + Aᵀ + I is taken as a 0/1 matrix too
// (the symmetric closure), so a pair of services calling each other, a
// duplicated edge or an explicit self-edge does not get double weight. D is
// its row-sum degree matrix; every degree is at least 1 (the self-loop), so
// Â is well defined even for isolated services. Â is symmetric.
type Adjacency struct {
	n    int
	norm []float64
	// colMean[j] = (1/N) Σ_i Â[i][j]: the weight of node j in the mean
	// over nodes of Â·x (GCNMeanPool).
	colMean []float64
	// fingerprint identifies the matrix in op hashes, so gorgonia never
	// merges two GCN nodes over different graphs.
	fingerprint uint64
}

// NewGraph validates a directed edge list over nodes services (edge {u, v}:
// u calls v) and builds the normalised adjacency and neighbour lists once.
// Self-edges and duplicates are allowed and collapse into the symmetric
// closure.
func NewGraph(nodes int, edges [][2]int) (*Graph, error) {
	if nodes <= 0 {
		return nil, fmt.Errorf("nn.NewGraph: %d nodes, need at least 1", nodes)
	}
	s := make([]bool, nodes*nodes)
	for i := 0; i < nodes; i++ {
		s[i*nodes+i] = true
	}
	for k, e := range edges {
		u, v := e[0], e[1]
		if u < 0 || u >= nodes || v < 0 || v >= nodes {
			return nil, fmt.Errorf("nn.NewGraph: edge %d (%d -> %d) out of range [0, %d)", k, u, v, nodes)
		}
		s[u*nodes+v] = true
		s[v*nodes+u] = true
	}

	g := &Graph{
		n:     nodes,
		edges: append([][2]int(nil), edges...),
		start: make([]int, nodes+1),
	}
	deg := make([]float64, nodes)
	for i := 0; i < nodes; i++ {
		for j := 0; j < nodes; j++ {
			if s[i*nodes+j] {
				g.nbr = append(g.nbr, j)
				deg[i]++
			}
		}
		g.start[i+1] = len(g.nbr)
	}

	a := &Adjacency{n: nodes, norm: make([]float64, nodes*nodes)}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d:", nodes)
	for i := 0; i < nodes; i++ {
		for _, j := range g.Neighbors(i) {
			a.norm[i*nodes+j] = 1 / math.Sqrt(deg[i]*deg[j])
			fmt.Fprintf(h, "%d-%d,", i, j)
		}
	}
	a.fingerprint = h.Sum64()
	a.colMean = make([]float64, nodes)
	for i := 0; i < nodes; i++ {
		for j := 0; j < nodes; j++ {
			a.colMean[j] += a.norm[i*nodes+j]
		}
	}
	for j := range a.colMean {
		a.colMean[j] /= float64(nodes)
	}
	g.adj = a
	return g, nil
}

// Nodes returns the number of services.
func (g *Graph) Nodes() int { return g.n }

// Edges returns a copy of the directed edge list the graph was built from.
func (g *Graph) Edges() [][2]int { return append([][2]int(nil), g.edges...) }

// Neighbors returns the sorted neighbours of node i in the symmetrised,
// self-looped graph (i itself included): the j of GAT's edges j -> i. The
// slice is shared; do not modify it.
func (g *Graph) Neighbors(i int) []int { return g.nbr[g.start[i]:g.start[i+1]] }

// Adjacency returns the normalised GCN adjacency Â of the graph.
func (g *Graph) Adjacency() *Adjacency { return g.adj }

// Nodes returns N, the side of the matrix.
func (a *Adjacency) Nodes() int { return a.n }

// At returns Â[i][j].
func (a *Adjacency) At(i, j int) float64 { return a.norm[i*a.n+j] }
