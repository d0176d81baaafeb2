package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Memory is an in-memory Store for unit tests. It keeps S3's semantics
// where callers could notice them: atomic replacement, a default content
// type, second-resolution LastModified, SHA-256 metadata, sorted recursive
// listings without metadata, idempotent deletes and key rules. ETags are
// the hex MD5 of the bytes, as for a single-part upload. It is safe for
// concurrent use; the zero value is not, use NewMemory.
type Memory struct {
	now func() time.Time

	mu      sync.RWMutex
	objects map[string]memObject
}

// memObject is never mutated once stored, so readers can share data
// without copying it.
type memObject struct {
	data []byte
	info ObjectInfo
}

var (
	_ Store        = (*Memory)(nil)
	_ SHA256Putter = (*Memory)(nil)
)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{now: time.Now, objects: make(map[string]memObject)}
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (ObjectInfo, error) {
	return m.put(ctx, "put", key, r, size, contentType, "")
}

// PutSHA256 implements SHA256Putter.
func (m *Memory) PutSHA256(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (ObjectInfo, error) {
	return m.put(ctx, "put", key, r, size, contentType, sha256Hex)
}

func (m *Memory) put(ctx context.Context, op, key string, r io.Reader, size int64, contentType, sha256Hex string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("%s %q: %w", op, key, err)
	}
	if size < -1 {
		return ObjectInfo{}, fmt.Errorf("%s %s: invalid size %d", op, key, size)
	}
	// Read everything before taking the lock: like an S3 PUT, a failed or
	// cancelled upload must leave the previous object untouched.
	src := &ctxReader{ctx: ctx, r: r}
	var data []byte
	var err error
	if size >= 0 {
		data = make([]byte, size)
		_, err = io.ReadFull(src, data)
		if err == io.ErrUnexpectedEOF || (err == io.EOF && size > 0) {
			err = fmt.Errorf("reader ended before the declared size of %d bytes", size)
		}
	} else {
		data, err = io.ReadAll(src)
	}
	if err == nil {
		// The last read may have filled the buffer after cancellation;
		// an upload whose context ended has failed, however far it got.
		err = ctx.Err()
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%s %s: %w", op, key, err)
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	sum := md5.Sum(data)
	info := ObjectInfo{
		Key:          key,
		Size:         int64(len(data)),
		ETag:         hex.EncodeToString(sum[:]),
		SHA256:       sha256Hex,
		LastModified: m.now().UTC().Truncate(time.Second),
		ContentType:  contentType,
	}
	m.mu.Lock()
	m.objects[key] = memObject{data: data, info: info}
	m.mu.Unlock()
	return info, nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	obj, err := m.lookup(ctx, "get", key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	rc := io.NopCloser(&ctxReader{ctx: ctx, r: bytes.NewReader(obj.data)})
	return &wrapReadCloser{rc: rc, wrap: func(err error) error {
		return fmt.Errorf("get %s: read: %w", key, err)
	}}, obj.info, nil
}

// Stat implements Store.
func (m *Memory) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	obj, err := m.lookup(ctx, "stat", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return obj.info, nil
}

func (m *Memory) lookup(ctx context.Context, op, key string) (memObject, error) {
	if err := checkKey(key); err != nil {
		return memObject{}, fmt.Errorf("%s %q: %w", op, key, err)
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, fmt.Errorf("%s %s: %w", op, key, err)
	}
	m.mu.RLock()
	obj, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return memObject{}, fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
	}
	return obj, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	m.mu.RLock()
	var out []ObjectInfo
	for key, obj := range m.objects {
		if strings.HasPrefix(key, prefix) {
			info := obj.info
			// An S3 listing carries neither; keep tests honest about that.
			info.SHA256, info.ContentType = "", ""
			out = append(out, info)
		}
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

// ctxReader stops reading once ctx is done, as an HTTP body would, so a
// cancelled Put or Get of the fake behaves like one against a server.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
