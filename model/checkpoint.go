package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// Checkpoint format, version 2:
//
//	magic "GRLCKPT\x00" | uint32 version | uint32 header length | header JSON |
//	uint64 count | count float64 (little endian) | sha256 of all before
//
// The header carries everything but the parameters: network spec,
// hyperparameters, counters, RNG state, parameter names and shapes, the
// normalisation statistics and the best evaluation. The float64 block is
// the parameters, then Adam's first and second moments, then the best
// policy's parameters if there is one. Version 1 (before normalisation
// and evaluation) has the same layout without them and is still read.
// The trailing checksum covers every byte, so a truncated or corrupted
// checkpoint is rejected instead of loaded.
const (
	checkpointMagic   = "GRLCKPT\x00"
	checkpointVersion = 2
	maxHeaderBytes    = 16 << 20
)

// ErrCorruptCheckpoint is returned (wrapped) for checkpoints that fail
// validation; callers treat it as non-retryable.
var ErrCorruptCheckpoint = errors.New("corrupt checkpoint")

// checkpointHeader is the JSON part of a checkpoint.
type checkpointHeader struct {
	Net      NetSpec         `json:"net"`
	Hyper    Hyperparameters `json:"hyper"`
	Counters Counters        `json:"counters"`
	Seed     uint64          `json:"seed"`
	RNG      []byte          `json:"rng"`
	AdamStep int64           `json:"adamStep"`
	Params   []paramInfo     `json:"params"`
	// ObsNorm and RewardNorm are the running statistics of normalisation
	// (nil when off); Best is the best evaluated policy (nil without an
	// evaluator), whose parameters follow Adam's moments.
	ObsNorm    *obsNorm     `json:"obsNorm,omitempty"`
	RewardNorm *runningStat `json:"rewardNorm,omitempty"`
	Best       *best        `json:"best,omitempty"`
}

type paramInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// writeCheckpoint serialises h and the float blocks.
func writeCheckpoint(w io.Writer, h checkpointHeader, blocks ...[]float64) error {
	hj, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode checkpoint header: %w", err)
	}
	var count int
	for _, b := range blocks {
		count += len(b)
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(checkpointMagic)+16+len(hj)+8*count+sha256.Size))
	buf.WriteString(checkpointMagic)
	var u32 [4]byte
	binary.LittleEndian.PutUint32(u32[:], checkpointVersion)
	buf.Write(u32[:])
	binary.LittleEndian.PutUint32(u32[:], uint32(len(hj)))
	buf.Write(u32[:])
	buf.Write(hj)
	var u64 [8]byte
	binary.LittleEndian.PutUint64(u64[:], uint64(count))
	buf.Write(u64[:])
	for _, b := range blocks {
		for _, x := range b {
			binary.LittleEndian.PutUint64(u64[:], math.Float64bits(x))
			buf.Write(u64[:])
		}
	}
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// readCheckpoint validates and decodes a checkpoint.
func readCheckpoint(r io.Reader) (checkpointHeader, []float64, error) {
	var h checkpointHeader
	data, err := io.ReadAll(r)
	if err != nil {
		return h, nil, fmt.Errorf("read checkpoint: %w", err)
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorruptCheckpoint, fmt.Sprintf(format, args...))
	}
	minLen := len(checkpointMagic) + 8 + 8 + sha256.Size
	if len(data) < minLen {
		return h, nil, corrupt("%d bytes is shorter than any checkpoint (%d)", len(data), minLen)
	}
	if string(data[:len(checkpointMagic)]) != checkpointMagic {
		return h, nil, corrupt("not a grlscaler checkpoint (bad magic)")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return h, nil, corrupt("checksum mismatch: truncated or modified")
	}
	p := len(checkpointMagic)
	if v := binary.LittleEndian.Uint32(body[p:]); v < 1 || v > checkpointVersion {
		return h, nil, corrupt("format version %d, this build reads 1 to %d", v, checkpointVersion)
	}
	hl := int(binary.LittleEndian.Uint32(body[p+4:]))
	p += 8
	if hl > maxHeaderBytes || p+hl+8 > len(body) {
		return h, nil, corrupt("header length %d exceeds the file", hl)
	}
	if err := json.Unmarshal(body[p:p+hl], &h); err != nil {
		return h, nil, corrupt("header: %v", err)
	}
	p += hl
	count := binary.LittleEndian.Uint64(body[p:])
	p += 8
	if uint64(len(body)-p) != 8*count {
		return h, nil, corrupt("%d values declared, %d bytes present", count, len(body)-p)
	}
	vals := make([]float64, count)
	for i := range vals {
		vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(body[p+8*i:]))
	}
	return h, vals, nil
}
