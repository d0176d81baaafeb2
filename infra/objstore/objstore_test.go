package objstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/infra/objstore/objstoretest"
)

// backend is one Store under test, with what differs between them.
type backend struct {
	store objstore.Store
	// multipartETags is true when objects uploaded in parts get S3's
	// multipart ETag ("<md5 of part md5s>-<parts>") rather than their MD5.
	multipartETags bool
	// overwriteBytes replaces an object's bytes and leaves its metadata
	// (including the recorded SHA-256) as it was: bit rot, a torn write,
	// or tampering.
	overwriteBytes func(t *testing.T, key string, data []byte)
}

// forEachStore runs body against the in-memory fake and against minio-go
// talking to a real local S3 server, so the fake is held to the real
// thing's behaviour. The server subtest is skipped under -short when the
// server is not built.
func forEachStore(t *testing.T, body func(t *testing.T, b backend)) {
	t.Run("memory", func(t *testing.T) {
		m := objstore.NewMemory()
		body(t, backend{
			store: m,
			overwriteBytes: func(t *testing.T, key string, data []byte) {
				t.Helper()
				// The fake has no disk to damage; storing new bytes under
				// the old checksum leaves it in the same state.
				info, err := m.Stat(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.PutSHA256(context.Background(), key, bytes.NewReader(data), int64(len(data)), info.ContentType, info.SHA256); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
	t.Run("versitygw", func(t *testing.T) {
		srv := objstoretest.Start(t)
		s, err := objstore.NewMinIO(srv.Config)
		if err != nil {
			t.Fatal(err)
		}
		body(t, backend{
			store:          s,
			multipartETags: true,
			overwriteBytes: func(t *testing.T, key string, data []byte) {
				t.Helper()
				// Rewrite the file in place: same inode, so versitygw's
				// metadata (extended attributes) stays as it was.
				if err := os.WriteFile(srv.ObjectPath(key), data, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		})
	})
}

// randomBytes returns n seeded pseudo-random bytes, so that objects are
// incompressible and reproducible.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// multipartETag matches S3's ETag for a multipart upload.
var multipartETag = regexp.MustCompile(`^[0-9a-f]{32}-([0-9]+)$`)

func TestPutGetRoundTrip(t *testing.T) {
	// 12 MB is above objstore.DefaultPartSize (8 MiB), so minio-go uploads
	// it in two parts, whether or not its size is known up front.
	const big = 12 << 20
	tests := []struct {
		name        string
		data        []byte
		unknownSize bool
		contentType string
		wantType    string
		wantParts   int // 0: a single PUT
	}{
		{name: "empty", data: []byte{}, wantType: objstore.DefaultContentType},
		{name: "empty unknown size", data: []byte{}, unknownSize: true, wantType: objstore.DefaultContentType},
		{name: "small yaml", data: []byte("controller: ppo\nseed: 7\n"), contentType: "application/yaml", wantType: "application/yaml"},
		{name: "small unknown size", data: []byte("log line\n"), unknownSize: true, contentType: "text/plain", wantType: "text/plain"},
		{name: "12MB multipart", data: randomBytes(1, big), wantType: objstore.DefaultContentType, wantParts: 2},
		{name: "12MB unknown size", data: randomBytes(2, big), unknownSize: true, wantType: objstore.DefaultContentType, wantParts: 2},
	}
	forEachStore(t, func(t *testing.T, b backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				key := "experiments/e1/checkpoints/" + strings.ReplaceAll(tt.name, " ", "-")
				size := int64(len(tt.data))
				if tt.unknownSize {
					size = -1
				}
				// A plain io.Reader, so no store can peek at the length.
				put, err := b.store.Put(ctx, key, io.MultiReader(bytes.NewReader(tt.data)), size, tt.contentType)
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if put.Key != key || put.Size != int64(len(tt.data)) || put.ContentType != tt.wantType {
					t.Errorf("Put returned key %q size %d type %q, want %q %d %q", put.Key, put.Size, put.ContentType, key, len(tt.data), tt.wantType)
				}

				got, info, err := objstore.GetBytes(ctx, b.store, key)
				if err != nil {
					t.Fatalf("GetBytes: %v", err)
				}
				if !bytes.Equal(got, tt.data) {
					t.Fatalf("GetBytes returned %d bytes (sha256 %s), want %d (sha256 %s)", len(got), sha256Hex(got), len(tt.data), sha256Hex(tt.data))
				}
				if info.Size != int64(len(tt.data)) || info.ContentType != tt.wantType || info.ETag != put.ETag {
					t.Errorf("Get info size %d type %q etag %q, want %d %q %q", info.Size, info.ContentType, info.ETag, len(tt.data), tt.wantType, put.ETag)
				}

				// ETags are not content hashes: a multipart upload's is the
				// MD5 of its parts' MD5s with the part count appended.
				if b.multipartETags && tt.wantParts > 0 {
					m := multipartETag.FindStringSubmatch(info.ETag)
					if m == nil || m[1] != fmt.Sprint(tt.wantParts) {
						t.Errorf("ETag %q, want a multipart ETag with %d parts", info.ETag, tt.wantParts)
					}
				} else if want := md5Hex(tt.data); info.ETag != want {
					t.Errorf("ETag %q, want the MD5 %q", info.ETag, want)
				}
			})
		}
	})
}

func TestPutReplacesObject(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		const key = "experiments/e1/manifest.json"
		for _, v := range []string{`{"v":1}`, `{"v":2,"longer":true}`, `{}`} {
			if _, err := objstore.PutBytes(ctx, b.store, key, []byte(v), "application/json"); err != nil {
				t.Fatal(err)
			}
			got, _, err := objstore.GetBytes(ctx, b.store, key)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v {
				t.Fatalf("after writing %q read %q", v, got)
			}
		}
	})
}

func TestStatDescribesObject(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		const key = "experiments/e1/reports/summary.json"
		data := []byte(`{"p95_ms": 212}`)
		before := time.Now()
		if _, err := objstore.PutBytes(ctx, b.store, key, data, "application/json"); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		info, err := b.store.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		want := objstore.ObjectInfo{Key: key, Size: int64(len(data)), ETag: md5Hex(data), ContentType: "application/json"}
		gotCmp := info
		gotCmp.LastModified = time.Time{}
		if gotCmp != want {
			t.Errorf("Stat = %+v, want %+v", gotCmp, want)
		}
		// HTTP dates have one-second resolution.
		if info.LastModified.Before(before.Truncate(time.Second)) || info.LastModified.After(after.Add(time.Second)) {
			t.Errorf("LastModified %v, want between %v and %v", info.LastModified, before, after)
		}
	})
}

func TestListIsSortedAndRecursive(t *testing.T) {
	// Byte order puts "e1-b/" and "e1.x" before "e1/" ('-' and '.' sort
	// before '/'), which a directory walk would get wrong.
	keys := []string{
		"experiments/e1/spec.yaml",
		"experiments/e1/checkpoints/chunk-0002.ckpt",
		"experiments/e1/checkpoints/chunk-0001.ckpt",
		"experiments/e1/logs/worker.log",
		"experiments/e1-b/spec.yaml",
		"experiments/e1.x",
		"experiments/e10/spec.yaml",
		"other/readme.txt",
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"experiments/e1/checkpoints/", []string{
			"experiments/e1/checkpoints/chunk-0001.ckpt",
			"experiments/e1/checkpoints/chunk-0002.ckpt",
		}},
		{"experiments/e1/", []string{
			"experiments/e1/checkpoints/chunk-0001.ckpt",
			"experiments/e1/checkpoints/chunk-0002.ckpt",
			"experiments/e1/logs/worker.log",
			"experiments/e1/spec.yaml",
		}},
		{"experiments/e1", []string{
			"experiments/e1-b/spec.yaml",
			"experiments/e1.x",
			"experiments/e1/checkpoints/chunk-0001.ckpt",
			"experiments/e1/checkpoints/chunk-0002.ckpt",
			"experiments/e1/logs/worker.log",
			"experiments/e1/spec.yaml",
			"experiments/e10/spec.yaml",
		}},
		{"experiments/e1/spec.yaml", []string{"experiments/e1/spec.yaml"}},
		{"experiments/missing/", nil},
		{"", slices.Sorted(slices.Values(keys))},
	}
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		for i, k := range keys {
			if _, err := objstore.PutVerified(ctx, b.store, k, []byte(strings.Repeat("x", i+1))); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range tests {
			t.Run("prefix="+tt.prefix, func(t *testing.T) {
				got, err := b.store.List(ctx, tt.prefix)
				if err != nil {
					t.Fatal(err)
				}
				var gotKeys []string
				for _, o := range got {
					gotKeys = append(gotKeys, o.Key)
					want := objstore.ObjectInfo{Key: o.Key, Size: int64(slices.Index(keys, o.Key) + 1), ETag: md5Hex([]byte(strings.Repeat("x", slices.Index(keys, o.Key)+1)))}
					o.LastModified = time.Time{}
					if o != want {
						t.Errorf("listed %+v, want %+v (listings carry no metadata)", o, want)
					}
				}
				if !slices.Equal(gotKeys, tt.want) {
					t.Errorf("List(%q) = %q, want %q", tt.prefix, gotKeys, tt.want)
				}
			})
		}
	})
}

func TestDeleteIsIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		const key = "experiments/e2/logs/trainer.log"
		if _, err := objstore.PutBytes(ctx, b.store, key, []byte("step 1\n"), "text/plain"); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := b.store.Delete(ctx, key); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := b.store.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
		}
		if err := b.store.Delete(ctx, "experiments/never/written"); err != nil {
			t.Errorf("Delete of a key never written: %v", err)
		}
		// No directory-like leftovers of the deleted key's "path".
		if got, err := b.store.List(ctx, "experiments/e2/"); err != nil || len(got) != 0 {
			t.Errorf("List after Delete = %v, %v; want nothing", got, err)
		}
	})
}

func TestMissingKeyIsNotFound(t *testing.T) {
	const key = "experiments/e3/checkpoints/chunk-0009.ckpt"
	ops := []struct {
		name string
		call func(context.Context, objstore.Store) error
	}{
		{"Get", func(ctx context.Context, s objstore.Store) error { _, _, err := s.Get(ctx, key); return err }},
		{"Stat", func(ctx context.Context, s objstore.Store) error { _, err := s.Stat(ctx, key); return err }},
		{"GetBytes", func(ctx context.Context, s objstore.Store) error {
			_, _, err := objstore.GetBytes(ctx, s, key)
			return err
		}},
		{"GetVerified", func(ctx context.Context, s objstore.Store) error {
			_, _, err := objstore.GetVerified(ctx, s, key, "")
			return err
		}},
	}
	forEachStore(t, func(t *testing.T, b backend) {
		// Something else in the bucket, so "missing" is about the key.
		if _, err := objstore.PutBytes(context.Background(), b.store, "experiments/e3/spec.yaml", []byte("x"), ""); err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			t.Run(op.name, func(t *testing.T) {
				err := op.call(context.Background(), b.store)
				if !errors.Is(err, objstore.ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
				if !strings.Contains(err.Error(), key) {
					t.Errorf("error %q does not name the key", err)
				}
			})
		}
	})
}

func TestRejectsInvalidKeys(t *testing.T) {
	tests := []struct{ name, key string }{
		{"empty", ""},
		{"too long", strings.Repeat("k", 1025)},
		{"invalid UTF-8", "experiments/\xff/spec.yaml"},
	}
	forEachStore(t, func(t *testing.T, b backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := objstore.PutBytes(context.Background(), b.store, tt.key, []byte("x"), ""); err == nil {
					t.Error("Put succeeded")
				}
				if _, err := b.store.Stat(context.Background(), tt.key); err == nil || errors.Is(err, objstore.ErrNotFound) {
					t.Errorf("Stat: %v, want an invalid-key error", err)
				}
			})
		}
	})
}

func TestPutVerifiedRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		const key = "experiments/e4/checkpoints/chunk-0001.ckpt"
		data := randomBytes(3, 300<<10)
		sum := sha256Hex(data)
		put, err := objstore.PutVerified(ctx, b.store, key, data)
		if err != nil {
			t.Fatal(err)
		}
		if put.SHA256 != sum {
			t.Errorf("PutVerified SHA256 = %q, want %q", put.SHA256, sum)
		}
		if st, err := b.store.Stat(ctx, key); err != nil || st.SHA256 != sum {
			t.Errorf("Stat SHA256 = %q (%v), want %q from X-Amz-Meta-Sha256", st.SHA256, err, sum)
		}
		// Trusting the object's own metadata, the run manifest's checksum,
		// or both; hex case does not matter.
		for _, want := range []string{"", sum, strings.ToUpper(sum)} {
			got, info, err := objstore.GetVerified(ctx, b.store, key, want)
			if err != nil {
				t.Fatalf("GetVerified(want %q): %v", want, err)
			}
			if !bytes.Equal(got, data) || info.SHA256 != sum {
				t.Errorf("GetVerified(want %q) returned %d bytes with SHA256 %q", want, len(got), info.SHA256)
			}
		}
	})
}

func TestGetVerifiedDetectsCorruption(t *testing.T) {
	orig := randomBytes(4, 64<<10)
	flipped := bytes.Clone(orig)
	flipped[len(flipped)/2] ^= 0x01
	tests := []struct {
		name    string
		damaged []byte
	}{
		{"one bit flipped", flipped},
		{"truncated like a torn write", orig[:len(orig)/2]},
		{"replaced", []byte("not a checkpoint")},
		{"emptied", []byte{}},
	}
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := fmt.Sprintf("experiments/e5/checkpoints/chunk-%04d.ckpt", i)
				put, err := objstore.PutVerified(ctx, b.store, key, orig)
				if err != nil {
					t.Fatal(err)
				}
				b.overwriteBytes(t, key, tt.damaged)
				// The damage must have left the recorded checksum behind,
				// or this test would not test anything.
				if st, err := b.store.Stat(ctx, key); err != nil || st.SHA256 != put.SHA256 {
					t.Fatalf("after overwrite Stat SHA256 = %q (%v), want the original %q", st.SHA256, err, put.SHA256)
				}
				if got, _, _ := objstore.GetBytes(ctx, b.store, key); !bytes.Equal(got, tt.damaged) {
					t.Fatalf("GetBytes does not return the damaged bytes")
				}
				for _, want := range []string{"", put.SHA256} {
					got, _, err := objstore.GetVerified(ctx, b.store, key, want)
					if !errors.Is(err, objstore.ErrCorrupt) {
						t.Errorf("GetVerified(want %q) err = %v, want ErrCorrupt", want, err)
					}
					if got != nil {
						t.Errorf("GetVerified(want %q) returned %d bytes with its error", want, len(got))
					}
				}
			})
		}
		t.Run("manifest disagrees with object", func(t *testing.T) {
			const key = "experiments/e5/checkpoints/stale.ckpt"
			if _, err := objstore.PutVerified(ctx, b.store, key, []byte("chunk 3")); err != nil {
				t.Fatal(err)
			}
			_, _, err := objstore.GetVerified(ctx, b.store, key, sha256Hex([]byte("chunk 4")))
			if !errors.Is(err, objstore.ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
		t.Run("no checksum anywhere", func(t *testing.T) {
			const key = "experiments/e5/checkpoints/plain.ckpt"
			if _, err := objstore.PutBytes(ctx, b.store, key, []byte("chunk"), ""); err != nil {
				t.Fatal(err)
			}
			if _, _, err := objstore.GetVerified(ctx, b.store, key, ""); !errors.Is(err, objstore.ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
			// The manifest's checksum alone is enough.
			if _, _, err := objstore.GetVerified(ctx, b.store, key, sha256Hex([]byte("chunk"))); err != nil {
				t.Errorf("with the manifest's checksum: %v", err)
			}
		})
		t.Run("malformed expected checksum", func(t *testing.T) {
			_, _, err := objstore.GetVerified(ctx, b.store, "experiments/e5/checkpoints/chunk-0000.ckpt", "abc")
			if err == nil || errors.Is(err, objstore.ErrCorrupt) {
				t.Errorf("err = %v, want a usage error", err)
			}
		})
	})
}

// TestConcurrentWritesAreAtomic has readers race writers replacing one
// object; every read must see one whole version, bytes and checksum
// together.
func TestConcurrentWritesAreAtomic(t *testing.T) {
	const (
		writers = 3
		puts    = 4
		readers = 3
		key     = "experiments/e6/manifest.json"
	)
	forEachStore(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		if _, err := objstore.PutVerified(ctx, b.store, key, randomBytes(100, 256<<10)); err != nil {
			t.Fatal(err)
		}
		var wg, readWG sync.WaitGroup
		done := make(chan struct{})
		errs := make(chan error, writers*puts+readers)
		for w := range writers {
			wg.Go(func() {
				for p := range puts {
					// Different sizes, so a mix of versions cannot hash right.
					data := randomBytes(uint64(w*puts+p), (128+64*w)<<10)
					if _, err := objstore.PutVerified(ctx, b.store, key, data); err != nil {
						errs <- err
					}
				}
			})
		}
		reads := make([]int, readers)
		for r := range readers {
			readWG.Go(func() {
				for {
					if _, _, err := objstore.GetVerified(ctx, b.store, key, ""); err != nil {
						errs <- fmt.Errorf("read %d: %w", reads[r], err)
						return
					}
					reads[r]++
					select {
					case <-done:
						return
					default:
					}
				}
			})
		}
		wg.Wait()
		close(done)
		readWG.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("reads per reader: %v", reads)
	})
}

// cancellingReader delivers n bytes, then cancels the upload's context and
// keeps delivering, like a producer that outlives its caller.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
	src    io.Reader
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	} else if len(p) > r.n {
		p = p[:r.n]
	}
	n, err := r.src.Read(p)
	r.n -= n
	return n, err
}

type infiniteReader struct{}

func (infiniteReader) Read(p []byte) (int, error) { return len(p), nil }

func TestContextCancellation(t *testing.T) {
	const key = "experiments/e7/checkpoints/chunk-0001.ckpt"
	ops := []struct {
		name string
		call func(context.Context, objstore.Store) error
	}{
		{"Put", func(ctx context.Context, s objstore.Store) error {
			_, err := objstore.PutBytes(ctx, s, key, []byte("v2"), "")
			return err
		}},
		{"Get", func(ctx context.Context, s objstore.Store) error { _, _, err := s.Get(ctx, key); return err }},
		{"Stat", func(ctx context.Context, s objstore.Store) error { _, err := s.Stat(ctx, key); return err }},
		{"List", func(ctx context.Context, s objstore.Store) error { _, err := s.List(ctx, "experiments/"); return err }},
		{"Delete", func(ctx context.Context, s objstore.Store) error { return s.Delete(ctx, key) }},
	}
	forEachStore(t, func(t *testing.T, b backend) {
		v1 := randomBytes(5, 12<<20)
		if _, err := objstore.PutVerified(context.Background(), b.store, key, v1); err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			t.Run("cancelled before "+op.name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				if err := op.call(ctx, b.store); !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			})
		}
		uploads := []struct {
			name string
			size int64
		}{
			{"known size", 12 << 20},
			{"unknown size", -1},
		}
		for _, up := range uploads {
			t.Run("cancelled during Put with "+up.name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				r := &cancellingReader{n: 1 << 20, cancel: cancel, src: infiniteReader{}}
				if _, err := b.store.Put(ctx, key, r, up.size, ""); !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
				// An interrupted upload leaves the previous version whole.
				if _, _, err := objstore.GetVerified(context.Background(), b.store, key, sha256Hex(v1)); err != nil {
					t.Errorf("previous version after a cancelled Put: %v", err)
				}
			})
		}
		t.Run("cancelled during Get", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rc, _, err := b.store.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadFull(rc, make([]byte, 1<<10)); err != nil {
				t.Fatal(err)
			}
			cancel()
			n, err := io.Copy(io.Discard, rc)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("read after cancel: %d bytes, err = %v, want context.Canceled", n, err)
			}
			if err != nil && !strings.Contains(err.Error(), key) {
				t.Errorf("read error %q does not name the key", err)
			}
		})
	})
}

// The markers are what a test would find if a key leaked.
const (
	markerAccess = "AKIAMARKERACCESSKEY7"
	markerSecret = "markerSECRETkeyDoNotLeak0123456789abcdef"
)

func assertNoKeys(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range []string{markerAccess, markerSecret} {
		if strings.Contains(s, k) {
			t.Errorf("%s leaks a key: %s", what, s)
		}
	}
}

func TestConfigRedactsKeys(t *testing.T) {
	cfg := objstore.Config{Endpoint: "127.0.0.1:9000", Bucket: "grl", AccessKey: markerAccess, SecretKey: markerSecret, Region: "us-east-1"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out := fmt.Sprintf(verb, cfg)
		assertNoKeys(t, verb, out)
		if verb == "%v" && !strings.Contains(out, "127.0.0.1:9000") {
			t.Errorf("%%v hides the endpoint too: %s", out)
		}
		assertNoKeys(t, verb+" of a pointer", fmt.Sprintf(verb, &cfg))
		assertNoKeys(t, verb+" of a containing struct", fmt.Sprintf(verb, struct{ S3 objstore.Config }{cfg}))
	}
	assertNoKeys(t, "String", cfg.String())
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("s3", "config", cfg)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("s3", "config", cfg)
	assertNoKeys(t, "slog output", buf.String())
	if unset := (objstore.Config{}).String(); !strings.Contains(unset, `SecretKey: ""`) {
		t.Errorf("an unset key should read as empty, not redacted: %s", unset)
	}
}

func TestErrorsNeverContainKeys(t *testing.T) {
	ctx := context.Background()
	t.Run("bad configs", func(t *testing.T) {
		for _, cfg := range []objstore.Config{
			{Endpoint: "http://" + markerAccess + ":" + markerSecret + "@127.0.0.1:9000", Bucket: "grl"},
			{Endpoint: "http://" + markerAccess + ":" + markerSecret + "@127.0.0.1:9000/%zz", Bucket: "grl"},
			{Endpoint: markerAccess + ":" + markerSecret + "@127.0.0.1:9000", Bucket: "grl"},
			{Endpoint: "127.0.0.1:9000", Bucket: "Invalid_Bucket", AccessKey: markerAccess, SecretKey: markerSecret},
			{Endpoint: "127.0.0.1:9000", Bucket: "grl", SecretKey: markerSecret},
		} {
			_, err := objstore.NewMinIO(cfg)
			if err == nil {
				t.Fatalf("NewMinIO(%v) succeeded", cfg)
			}
			assertNoKeys(t, "NewMinIO error", err.Error())
			assertNoKeys(t, "Config with credentials in its endpoint", cfg.String())
		}
		_, err := objstore.ConfigFromEnv(func(k string) (string, bool) {
			v, ok := map[string]string{objstore.EnvAccessKey: markerAccess, objstore.EnvSecretKey: markerSecret, objstore.EnvTLS: markerSecret}[k]
			return v, ok
		})
		if err == nil {
			t.Fatal("ConfigFromEnv without endpoint succeeded")
		}
		// The one value it may echo is GRL_S3_TLS's, which is not a key.
		assertNoKeys(t, "ConfigFromEnv error", strings.ReplaceAll(err.Error(), `"`+markerSecret+`"`, ""))
	})
	t.Run("proxy echoes the request", func(t *testing.T) {
		// A plain-text error page from a proxy becomes the error message;
		// this one repeats the Authorization header, which names the
		// access key.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad request: Authorization: %s", r.Header.Get("Authorization"))
		}))
		t.Cleanup(srv.Close)
		s, err := objstore.NewMinIO(objstore.Config{Endpoint: srv.URL, Bucket: "grl", AccessKey: markerAccess, SecretKey: markerSecret, Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Get(ctx, "experiments/e1/spec.yaml")
		if err == nil {
			t.Fatal("Get succeeded")
		}
		assertNoKeys(t, "Get error", err.Error())
		if !strings.Contains(err.Error(), "Credential=<redacted>/") {
			t.Errorf("want the proxy's message with the key scrubbed, got %v", err)
		}
	})
	t.Run("server echoes the keys", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeS3Error(w, http.StatusForbidden, "InvalidAccessKeyId", "access key "+markerAccess+" with secret "+markerSecret+" is not valid")
		}))
		t.Cleanup(srv.Close)
		s, err := objstore.NewMinIO(objstore.Config{Endpoint: srv.URL, Bucket: "grl", AccessKey: markerAccess, SecretKey: markerSecret, Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Get(ctx, "experiments/e1/spec.yaml")
		if err == nil {
			t.Fatal("Get succeeded")
		}
		assertNoKeys(t, "Get error", err.Error())
		if !strings.Contains(err.Error(), "is not valid") {
			t.Errorf("redaction lost the server's message: %v", err)
		}
	})
	t.Run("wrong secret against the local server", func(t *testing.T) {
		cfg := objstoretest.StartLocalServer(t)
		cfg.AccessKey, cfg.SecretKey = markerAccess, markerSecret
		s, err := objstore.NewMinIO(cfg)
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]error{}
		_, calls["put"] = objstore.PutBytes(ctx, s, "k", []byte("x"), "")
		_, _, calls["get"] = s.Get(ctx, "k")
		_, calls["stat"] = s.Stat(ctx, "k")
		_, calls["list"] = s.List(ctx, "")
		calls["delete"] = s.Delete(ctx, "k")
		for op, err := range calls {
			if err == nil {
				t.Errorf("%s with a wrong key succeeded", op)
				continue
			}
			t.Logf("%s: %v", op, err)
			assertNoKeys(t, op+" error", err.Error())
		}
	})
}

// writeS3Error writes an S3 error document, as in minio-go's
// api-error-response.go.
func writeS3Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><BucketName>grl</BucketName><RequestId>4442587FB7D0A2F9</RequestId><HostId>test</HostId></Error>`, code, message)
}

// TestTranslatesS3Errors checks the adapter's error translation against an
// httptest server speaking S3's error format (after minio-go's
// api-stat_test.go newTestStatClient), without a real server.
func TestTranslatesS3Errors(t *testing.T) {
	const key = "experiments/e1/spec.yaml"
	type result int
	const (
		ok result = iota
		notFound
		otherError
	)
	tests := []struct {
		name    string
		op      string
		status  int
		code    string // "" sends no body, as for a HEAD
		want    result
		wantMsg string
	}{
		{"stat of missing key (HEAD has no body)", "stat", http.StatusNotFound, "", notFound, "stat s3://grl/" + key},
		{"get of missing key", "get", http.StatusNotFound, "NoSuchKey", notFound, "get s3://grl/" + key},
		{"get from missing bucket", "get", http.StatusNotFound, "NoSuchBucket", notFound, `bucket "grl" does not exist`},
		{"stat forbidden", "stat", http.StatusForbidden, "", otherError, "stat s3://grl/" + key},
		{"get access denied", "get", http.StatusForbidden, "AccessDenied", otherError, "get s3://grl/" + key + ": Access Denied"},
		{"put access denied", "put", http.StatusForbidden, "AccessDenied", otherError, "put s3://grl/" + key},
		{"list of missing bucket is not an empty list", "list", http.StatusNotFound, "NoSuchBucket", otherError, `bucket "grl" does not exist`},
		{"delete of missing key", "delete", http.StatusNotFound, "NoSuchKey", ok, ""},
		{"delete as S3 answers it", "delete", http.StatusNoContent, "", ok, ""},
		{"delete from missing bucket", "delete", http.StatusNotFound, "NoSuchBucket", otherError, `bucket "grl" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tt.code == "" {
					w.WriteHeader(tt.status)
					return
				}
				writeS3Error(w, tt.status, tt.code, "")
			}))
			t.Cleanup(srv.Close)
			s, err := objstore.NewMinIO(objstore.Config{Endpoint: srv.URL, Bucket: "grl", AccessKey: "k", SecretKey: "s3cr3t-test-only", Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			switch tt.op {
			case "stat":
				_, err = s.Stat(ctx, key)
			case "get":
				_, _, err = s.Get(ctx, key)
			case "put":
				_, err = objstore.PutBytes(ctx, s, key, []byte("x"), "")
			case "list":
				_, err = s.List(ctx, "experiments/")
			case "delete":
				err = s.Delete(ctx, key)
			}
			switch {
			case tt.want == ok && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tt.want == notFound && !errors.Is(err, objstore.ErrNotFound):
				t.Fatalf("err = %v, want ErrNotFound", err)
			case tt.want == otherError && (err == nil || errors.Is(err, objstore.ErrNotFound)):
				t.Fatalf("err = %v, want an error other than ErrNotFound", err)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    objstore.Config
		wantErr string
	}{
		{
			name: "ours",
			env: map[string]string{"GRL_S3_ENDPOINT": "minio:9000", "GRL_S3_BUCKET": "grl", "GRL_S3_ACCESS_KEY": "ak", "GRL_S3_SECRET_KEY": "sk",
				"GRL_S3_TLS": "true", "GRL_S3_REGION": "eu-west-1"},
			want: objstore.Config{Endpoint: "minio:9000", Bucket: "grl", AccessKey: "ak", SecretKey: "sk", UseTLS: true, Region: "eu-west-1"},
		},
		{
			name: "AWS key fallbacks",
			env:  map[string]string{"GRL_S3_ENDPOINT": "https://s3.amazonaws.com", "GRL_S3_BUCKET": "grl", "AWS_ACCESS_KEY_ID": "aws-ak", "AWS_SECRET_ACCESS_KEY": "aws-sk"},
			want: objstore.Config{Endpoint: "https://s3.amazonaws.com", Bucket: "grl", AccessKey: "aws-ak", SecretKey: "aws-sk"},
		},
		{
			name: "ours win over AWS",
			env: map[string]string{"GRL_S3_ENDPOINT": "minio:9000", "GRL_S3_BUCKET": "grl", "GRL_S3_ACCESS_KEY": "ak", "GRL_S3_SECRET_KEY": "sk",
				"AWS_ACCESS_KEY_ID": "aws-ak", "AWS_SECRET_ACCESS_KEY": "aws-sk", "GRL_S3_TLS": "0"},
			want: objstore.Config{Endpoint: "minio:9000", Bucket: "grl", AccessKey: "ak", SecretKey: "sk"},
		},
		{name: "no endpoint", env: map[string]string{"GRL_S3_BUCKET": "grl"}, wantErr: "GRL_S3_ENDPOINT is not set"},
		{name: "no bucket", env: map[string]string{"GRL_S3_ENDPOINT": "minio:9000"}, wantErr: "GRL_S3_BUCKET is not set"},
		{name: "bad TLS", env: map[string]string{"GRL_S3_ENDPOINT": "minio:9000", "GRL_S3_BUCKET": "grl", "GRL_S3_TLS": "sometimes"}, wantErr: "GRL_S3_TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := objstore.ConfigFromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Compare fields directly: Config's formatting redacts keys.
			if got.Endpoint != tt.want.Endpoint || got.Bucket != tt.want.Bucket || got.AccessKey != tt.want.AccessKey ||
				got.SecretKey != tt.want.SecretKey || got.UseTLS != tt.want.UseTLS || got.Region != tt.want.Region {
				t.Errorf("got %v (keys %q/%q), want %v (keys %q/%q)", got, got.AccessKey, got.SecretKey, tt.want, tt.want.AccessKey, tt.want.SecretKey)
			}
		})
	}
}

func TestNewMinIOChecksConfig(t *testing.T) {
	tests := []struct {
		name   string
		cfg    objstore.Config
		wantOK bool
	}{
		{"host:port", objstore.Config{Endpoint: "127.0.0.1:9000", Bucket: "grl"}, true},
		{"http URL", objstore.Config{Endpoint: "http://minio:9000", Bucket: "grl", AccessKey: "a", SecretKey: "s"}, true},
		{"https URL", objstore.Config{Endpoint: "https://s3.amazonaws.com/", Bucket: "grl"}, true},
		{"empty endpoint", objstore.Config{Bucket: "grl"}, false},
		{"unknown scheme", objstore.Config{Endpoint: "ftp://minio:9000", Bucket: "grl"}, false},
		{"path in URL", objstore.Config{Endpoint: "http://minio:9000/grl", Bucket: "grl"}, false},
		{"http URL with TLS", objstore.Config{Endpoint: "http://minio:9000", Bucket: "grl", UseTLS: true}, false},
		{"credentials in URL", objstore.Config{Endpoint: "http://a:s@minio:9000", Bucket: "grl"}, false},
		{"no bucket", objstore.Config{Endpoint: "minio:9000"}, false},
		{"access key without secret", objstore.Config{Endpoint: "minio:9000", Bucket: "grl", AccessKey: "a"}, false},
		{"part size below S3's 5 MiB", objstore.Config{Endpoint: "minio:9000", Bucket: "grl", PartSize: 1 << 20}, false},
		{"bucket name S3 rejects", objstore.Config{Endpoint: "minio:9000", Bucket: "Grl_Bucket"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := objstore.NewMinIO(tt.cfg)
			if (err == nil) != tt.wantOK {
				t.Errorf("NewMinIO(%v) err = %v, want ok=%t", tt.cfg, err, tt.wantOK)
			}
		})
	}
}

// BenchmarkPutGet measures a PUT and a GET of one object against the local
// S3 server, reporting each direction's throughput.
func BenchmarkPutGet(b *testing.B) {
	cfg := objstoretest.StartLocalServer(b)
	s, err := objstore.NewMinIO(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1 << 20, 10 << 20} {
		b.Run(fmt.Sprintf("%dMB", size>>20), func(b *testing.B) {
			ctx := context.Background()
			data := randomBytes(uint64(size), size)
			key := fmt.Sprintf("bench/%d.bin", size)
			var putTime, getTime time.Duration
			n := 0
			b.SetBytes(int64(size))
			for b.Loop() {
				n++
				t0 := time.Now()
				if _, err := objstore.PutBytes(ctx, s, key, data, ""); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				got, _, err := objstore.GetBytes(ctx, s, key)
				if err != nil || len(got) != size {
					b.Fatalf("GetBytes: %d bytes, %v", len(got), err)
				}
				putTime += t1.Sub(t0)
				getTime += time.Since(t1)
			}
			mb := float64(size) / 1e6 * float64(n)
			b.ReportMetric(mb/putTime.Seconds(), "put-MB/s")
			b.ReportMetric(mb/getTime.Seconds(), "get-MB/s")
		})
	}
}

func TestOpenBucketSeparatesBucketsOnOneServer(t *testing.T) {
	srv := objstoretest.Start(t)
	home, err := objstore.NewMinIO(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	other, err := home.OpenBucket(ctx, "other-bucket")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objstore.PutBytes(ctx, other, "k", []byte("in other"), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := home.Stat(ctx, "k"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("object put in other-bucket visible in %s: err %v", srv.Config.Bucket, err)
	}
	again, err := home.OpenBucket(ctx, "other-bucket")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := objstore.GetBytes(ctx, again, "k"); err != nil || string(got) != "in other" {
		t.Fatalf("reopened other-bucket: %q, %v", got, err)
	}
	if self, err := home.OpenBucket(ctx, srv.Config.Bucket); err != nil || self != objstore.Store(home) {
		t.Fatalf("opening the store's own bucket returned %v, %v; want the store itself", self, err)
	}
	if _, err := home.OpenBucket(ctx, "Bad_Bucket"); err == nil || !strings.Contains(err.Error(), "Bad_Bucket") {
		t.Fatalf("invalid bucket name: err %v, want one naming it", err)
	}
}
