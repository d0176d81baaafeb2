// Package objstore is grlscaler's S3 object store behind a small interface.
//
// Experiments keep everything they produce under one prefix:
//
//	experiments/<id>/spec.yaml
//	experiments/<id>/manifest.json
//	experiments/<id>/checkpoints/...
//	experiments/<id>/evals/...
//	experiments/<id>/reports/...
//	experiments/<id>/logs/...
//
// Two implementations satisfy [Store]: [MinIOStore], over minio-go, which
// works against MinIO, AWS S3 and the local S3 server the tests and the dev
// stack start; and [Memory], an in-memory fake for other packages' unit
// tests. The objstoretest subpackage starts a real local S3 server for
// tests that need one.
//
// # Atomicity and trust
//
// An S3 PUT is atomic per object: a reader sees the previous object or the
// whole new one, never a mix, and a PUT that fails or is cancelled leaves
// the previous object (or none) in place. That does not make what a reader
// finds trustworthy: a writer may have crashed after writing some objects
// of a set but not the others, an object may have been overwritten by a
// stale retry, or its bytes may have been damaged on disk. So a reader
// trusts an object only through a checksum: the SHA-256 recorded elsewhere
// (the run manifest lists each checkpoint's key and SHA-256) or, failing
// that, the SHA-256 the writer stored in the object's own metadata.
// [PutVerified] records it and [GetVerified] checks it; ETags are not
// content hashes (multipart uploads and server-side encryption change
// them) and are never used for this.
package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is wrapped by the error Get and Stat return for a key that
// does not exist; callers test for it with errors.Is.
var ErrNotFound = errors.New("object not found")

// ErrCorrupt is wrapped by the error GetVerified returns when an object's
// bytes do not hash to the expected SHA-256, or when there is no SHA-256 to
// check them against. It is not transient: reading the object again returns
// the same bytes, so callers treat it as non-retryable.
var ErrCorrupt = errors.New("object failed sha256 verification")

// MetaSHA256 is the user-metadata key under which PutVerified records an
// object's hex SHA-256. S3 sends it as the X-Amz-Meta-Sha256 header.
const MetaSHA256 = "Sha256"

// DefaultContentType is what a Put with an empty content type stores, as
// S3 does.
const DefaultContentType = "application/octet-stream"

// Store is the object store. Keys are S3 object keys without the bucket:
// non-empty UTF-8, at most 1024 bytes.
type Store interface {
	// Put stores the object key, replacing any previous one atomically.
	// size is the number of bytes to read from r, or -1 when unknown (r is
	// then read to EOF). An empty contentType stores DefaultContentType.
	// The returned ObjectInfo may have a zero LastModified; Stat has the
	// server's.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (ObjectInfo, error)
	// Get opens the object key for reading; the caller closes it. A
	// missing key returns an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat returns the object's info without its bytes. A missing key
	// returns an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every object whose key starts with prefix, at any
	// depth, sorted by key. S3 listings carry neither user metadata nor
	// content type, so SHA256 and ContentType are empty; Stat an object
	// for them.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the object key. Deleting a missing key succeeds, so
	// retried clean-ups are idempotent.
	Delete(ctx context.Context, key string) error
}

// SHA256Putter is implemented by stores that can record a SHA-256 in an
// object's metadata in the same atomic PUT as its bytes. PutVerified needs
// it; both MinIOStore and Memory implement it. It is separate from Store so
// that Store stays the five calls every caller needs.
type SHA256Putter interface {
	// PutSHA256 is Put that also records sha256Hex as the object's
	// MetaSHA256 metadata. It does not check sha256Hex against the bytes.
	PutSHA256(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (ObjectInfo, error)
}

// BucketOpener is implemented by stores that reach the other buckets of
// their server with the same credentials: an experiment names its bucket
// (spec.storage.bucket) and the worker opens it. MinIOStore implements it;
// Memory does not (it is one namespace), so callers fall back to the store
// they have.
type BucketOpener interface {
	// OpenBucket returns the store of bucket name, creating the bucket if
	// it does not exist.
	OpenBucket(ctx context.Context, name string) (Store, error)
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Key is the object's key.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ETag is the server's opaque version tag. For a single-part upload it
	// is usually the hex MD5 of the bytes; for a multipart upload it is
	// "<md5 of part md5s>-<parts>", so never compare it with a content hash.
	ETag string
	// SHA256 is the hex SHA-256 recorded in the object's metadata by
	// PutVerified, or empty.
	SHA256 string
	// LastModified is when the object was last written, to the second.
	LastModified time.Time
	// ContentType is the object's MIME type.
	ContentType string
}

// PutBytes stores data under key.
func PutBytes(ctx context.Context, s Store, key string, data []byte, contentType string) (ObjectInfo, error) {
	return s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), contentType)
}

// GetBytes reads the whole object key.
func GetBytes(ctx context.Context, s Store, key string) ([]byte, ObjectInfo, error) {
	rc, info, err := s.Get(ctx, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	defer rc.Close()
	data, err := readAll(rc, info.Size)
	if err != nil {
		// The store's reader already names the key in its errors.
		return nil, ObjectInfo{}, err
	}
	return data, info, nil
}

// PutVerified stores data under key in one atomic PUT, with its SHA-256 in
// the object's metadata (X-Amz-Meta-Sha256). The returned ObjectInfo's
// SHA256 is what a manifest should record. s must implement SHA256Putter.
func PutVerified(ctx context.Context, s Store, key string, data []byte) (ObjectInfo, error) {
	p, ok := s.(SHA256Putter)
	if !ok {
		return ObjectInfo{}, fmt.Errorf("put verified %s: store %T cannot record a sha256 (does not implement objstore.SHA256Putter)", key, s)
	}
	sum := sha256.Sum256(data)
	info, err := p.PutSHA256(ctx, key, bytes.NewReader(data), int64(len(data)), DefaultContentType, hex.EncodeToString(sum[:]))
	if err != nil {
		return ObjectInfo{}, err
	}
	return info, nil
}

// GetVerified reads the object key and returns its bytes only if they hash
// to the expected SHA-256: wantSHA256 (hex, e.g. from the run manifest)
// when given, and the SHA-256 in the object's own metadata when present.
// With neither to check against, or on any mismatch, it returns an error
// wrapping ErrCorrupt, so a damaged, truncated or substituted object is
// never read as valid. A missing key returns an error wrapping ErrNotFound.
func GetVerified(ctx context.Context, s Store, key, wantSHA256 string) ([]byte, ObjectInfo, error) {
	want := strings.ToLower(strings.TrimSpace(wantSHA256))
	if want != "" && !isSHA256Hex(want) {
		return nil, ObjectInfo{}, fmt.Errorf("get verified %s: expected sha256 %q is not 64 hex digits", key, wantSHA256)
	}
	data, info, err := GetBytes(ctx, s, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	meta := strings.ToLower(info.SHA256)
	switch {
	case want == "" && meta == "":
		return nil, ObjectInfo{}, fmt.Errorf("get verified %s: %w: no expected sha256 given and none in the object's metadata (was it written with PutVerified?)", key, ErrCorrupt)
	case want != "" && got != want:
		return nil, ObjectInfo{}, fmt.Errorf("get verified %s: %w: content has sha256 %s, expected %s", key, ErrCorrupt, got, want)
	case meta != "" && got != meta:
		return nil, ObjectInfo{}, fmt.Errorf("get verified %s: %w: content has sha256 %s, metadata records %s", key, ErrCorrupt, got, meta)
	}
	info.SHA256 = got
	return data, info, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// maxKeyLen is S3's limit on an object key's length in bytes.
const maxKeyLen = 1024

// checkKey applies S3's rules for object keys, so that the fake rejects
// what a real server would.
func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > maxKeyLen:
		return fmt.Errorf("key is %d bytes, longer than S3's %d", len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return errors.New("key is not valid UTF-8")
	}
	return nil
}

// readAll reads r to EOF, sizing its buffer from the object's known size
// so that large checkpoints are not copied while the buffer grows.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > 1<<30 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// wrapReadCloser names the object in errors met while reading its body,
// which arrive long after Get returned.
type wrapReadCloser struct {
	rc   io.ReadCloser
	wrap func(error) error
}

func (w *wrapReadCloser) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	if err != nil && err != io.EOF {
		err = w.wrap(err)
	}
	return n, err
}

func (w *wrapReadCloser) Close() error {
	if err := w.rc.Close(); err != nil {
		return w.wrap(err)
	}
	return nil
}
