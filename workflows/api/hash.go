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

// SpecHash is the hex SHA-256 of Canonical(spec). It identifies a
// configuration: two submissions of the same document have the same hash.
// It panics if spec holds a NaN or infinite float, which no valid spec does.
func SpecHash(spec *ExperimentSpec) string {
	b, err := Canonical(spec)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
