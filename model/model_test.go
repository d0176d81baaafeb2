package model

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestGAEMatchesAHandComputedRollout(t *testing.T) {
	// Three steps, the second ends an episode; gamma 0.9, lambda 0.5.
	r := newRollout(3, 1, 1, 1, 1, false, false)
	copy(r.rewards, []float64{1, 2, 3})
	copy(r.values, []float64{0.5, 1, 1.5})
	r.dones[1] = true
	r.computeGAE(2, false, 0.9, 0.5)
	// t=2: delta = 3 + 0.9*2 - 1.5 = 3.3; adv 3.3
	// t=1: terminal: delta = 2 - 1 = 1; adv 1
	// t=0: delta = 1 + 0.9*1 - 0.5 = 1.4; adv = 1.4 + 0.45*1 = 1.85
	want := []float64{1.85, 1, 3.3}
	for i, w := range want {
		if math.Abs(r.adv[i]-w) > 1e-12 || math.Abs(r.returns[i]-(w+r.values[i])) > 1e-12 {
			t.Errorf("t=%d adv %v return %v, want %v %v", i, r.adv[i], r.returns[i], w, w+r.values[i])
		}
	}
}

func TestAdamFollowsPyTorchsUpdate(t *testing.T) {
	// torch.optim.Adam(lr=0.1) on one parameter p=1 with gradients 2 then -1:
	// step 1: m=0.2, v=0.004, p = 1 - 0.1*(0.2/0.1)/(sqrt(0.004/0.001)+1e-8) = 0.9
	// step 2: m=0.08, v=0.004996, p = 0.9 - 0.1*(0.08/0.19)/(sqrt(0.004996/0.001999)+1e-8)
	a := newAdam(1, 1e-8)
	p := []float64{1}
	a.update(p, []float64{2}, 0.1)
	if math.Abs(p[0]-0.9) > 1e-9 {
		t.Fatalf("after step 1 p = %v, want 0.9", p[0])
	}
	a.update(p, []float64{-1}, 0.1)
	want := 1 - 0.2/(2+1e-8) - 0.1*(0.08/0.19)/(math.Sqrt(0.004996/0.001999)+1e-8)
	if math.Abs(p[0]-want) > 1e-12 {
		t.Errorf("after step 2 p = %v, want %v", p[0], want)
	}
}

func TestClipGradNormScalesOnlyAboveTheLimit(t *testing.T) {
	g := []float64{3, 4}
	if n := clipGradNorm(g, 10); n != 5 || g[0] != 3 {
		t.Errorf("norm %v grads %v: below the limit nothing changes", n, g)
	}
	clipGradNorm(g, 1)
	if got := math.Hypot(g[0], g[1]); math.Abs(got-1) > 1e-6 {
		t.Errorf("clipped norm %v, want 1", got)
	}
}

func TestCheckpointRejectsDamage(t *testing.T) {
	h := checkpointHeader{Net: NetSpec{Policy: GCN}, Hyper: DefaultHyperparameters(), Seed: 3,
		Params: []paramInfo{{Name: "w", Shape: []int{2}}}}
	var buf bytes.Buffer
	if err := writeCheckpoint(&buf, h, []float64{1, 2}, []float64{3}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	gh, vals, err := readCheckpoint(bytes.NewReader(good))
	if err != nil || gh.Seed != 3 || len(vals) != 3 || vals[2] != 3 || gh.Net.Policy != GCN {
		t.Fatalf("round trip: %+v %v %v", gh, vals, err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	badMagic := bytes.Clone(good)
	badMagic[0] = 'X'
	tests := map[string][]byte{
		"empty":         nil,
		"truncated":     good[:len(good)-1],
		"half":          good[:len(good)/2],
		"one bit flips": flipped,
		"not ours":      badMagic,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := readCheckpoint(bytes.NewReader(data))
			if !errors.Is(err, ErrCorruptCheckpoint) {
				t.Errorf("got %v, want ErrCorruptCheckpoint", err)
			}
		})
	}
}

func TestHyperparameterDefaultsAreStableBaselines3s(t *testing.T) {
	h := DefaultHyperparameters()
	if h.LearningRate != 3e-4 || h.NSteps != 2048 || h.BatchSize != 64 || h.Epochs != 10 || h.Gamma != 0.99 ||
		h.Lambda != 0.95 || h.ClipRange != 0.2 || h.EntCoef != 0 || h.VFCoef != 0.5 || h.MaxGradNorm != 0.5 {
		t.Errorf("defaults %+v", h)
	}
	if err := h.Validate(); err != nil {
		t.Error(err)
	}
	h.BatchSize = 0
	h.Gamma = 2
	err := h.Validate()
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("batchSize")) || !bytes.Contains([]byte(err.Error()), []byte("gamma")) {
		t.Errorf("validation error %v should name batchSize and gamma", err)
	}
}
