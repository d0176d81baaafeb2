package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Canonical returns the canonical JSON of spec: encoding/json's output
// (struct fields in declaration order, map keys sorted, shortest
// round-tripping floats) without HTML escaping or a trailing newline. Equal
// specs give equal bytes. It fails only on NaN or infinite floats, which no
// spec decoded from JSON or parsed by experiment.Parse holds.
func Canonical(spec *ExperimentSpec) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(spec); err != nil {
		return nil, fmt.Errorf("canonical json of experiment %q: %w", spec.Metadata.Name, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// SpecHash is the hex SHA-256 of the canonical JSON of what the spec
// computes: spec without its storage and execution sections, which say
// where results go and how stages run, not what they are. Two submissions
// of the same experiment have the same hash wherever they store and
// however they run, so drift reports and reproducibility checks compare
// them. It panics if spec holds a NaN or infinite float, which no valid
// spec does.
func SpecHash(spec *ExperimentSpec) string {
	what := *spec
	what.Spec.Storage, what.Spec.Execution = Storage{}, Execution{}
	b, err := Canonical(&what)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
