package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Config locates an S3 bucket and holds the credentials for it. Its String
// and Format methods, and its slog value, redact both keys, so a Config can
// be printed or logged as a whole.
type Config struct {
	// Endpoint is the server as host:port, or as an http:// or https://
	// URL (https implies TLS). It must not carry credentials or a path.
	Endpoint string
	// Bucket holds every grlscaler object.
	Bucket string
	// AccessKey and SecretKey sign requests; both empty means anonymous.
	AccessKey string
	SecretKey string
	// UseTLS selects https for a host:port Endpoint.
	UseTLS bool
	// Region is the bucket's region. Empty asks the server once per
	// bucket (minio-go's bucket-location lookup).
	Region string
	// CreateBucket makes NewMinIO create Bucket when it does not exist,
	// for the dev stack and tests; production buckets are provisioned.
	CreateBucket bool
	// PartSize is the multipart part size in bytes: objects larger than
	// it, and every object of unknown size, go up in parts of this size.
	// Zero means DefaultPartSize; S3 requires at least 5 MiB.
	PartSize uint64
}

// Environ returns the environment variables that make ConfigFromEnv
// return c (without CreateBucket and PartSize), for a child process that
// must reach the same store, such as a stage run by the worker.
func (c Config) Environ() []string {
	return []string{
		EnvEndpoint + "=" + c.Endpoint, EnvBucket + "=" + c.Bucket,
		EnvAccessKey + "=" + c.AccessKey, EnvSecretKey + "=" + c.SecretKey,
		EnvTLS + "=" + strconv.FormatBool(c.UseTLS), EnvRegion + "=" + c.Region,
	}
}

// DefaultPartSize bounds what an upload buffers: minio-go's own default
// for a stream of unknown size is a ~537 MiB buffer per part.
const DefaultPartSize = 8 << 20

// S3's limits on a multipart upload's part size.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// bucketSetupTimeout bounds NewMinIO's bucket check and creation.
const bucketSetupTimeout = 30 * time.Second

const redacted = "<redacted>"

// String returns the Config with its keys redacted.
func (c Config) String() string {
	return fmt.Sprintf("objstore.Config{Endpoint: %q, Bucket: %q, AccessKey: %s, SecretKey: %s, UseTLS: %t, Region: %q, CreateBucket: %t, PartSize: %d}",
		redactEndpoint(c.Endpoint), c.Bucket, redactString(c.AccessKey), redactString(c.SecretKey), c.UseTLS, c.Region, c.CreateBucket, c.PartSize)
}

// GoString implements fmt.GoStringer so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// Format implements fmt.Formatter: every verb (%v, %+v, %#v, %s, %q...)
// prints the redacted String, never the fields.
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	io.WriteString(f, c.String())
}

// LogValue implements slog.LogValuer; slog's JSON handler would otherwise
// marshal the fields as they are.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", redactEndpoint(c.Endpoint)),
		slog.String("bucket", c.Bucket),
		slog.String("access_key", redactString(c.AccessKey)),
		slog.String("secret_key", redactString(c.SecretKey)),
		slog.Bool("tls", c.UseTLS),
		slog.String("region", c.Region),
	)
}

// redactString shows whether a key is set without showing it.
func redactString(s string) string {
	if s == "" {
		return `""`
	}
	return redacted
}

// redactEndpoint hides the userinfo an endpoint should not have had
// (http://key:secret@host), without parsing it: a URL that fails to parse
// must not leak either.
func redactEndpoint(endpoint string) string {
	at := strings.LastIndex(endpoint, "@")
	if at < 0 {
		return endpoint
	}
	if i := strings.Index(endpoint, "://"); i >= 0 && i < at {
		return endpoint[:i+3] + redacted + endpoint[at:]
	}
	return redacted + endpoint[at:]
}

// Environment variables ConfigFromEnv reads.
const (
	EnvEndpoint  = "GRL_S3_ENDPOINT"
	EnvBucket    = "GRL_S3_BUCKET"
	EnvAccessKey = "GRL_S3_ACCESS_KEY"
	EnvSecretKey = "GRL_S3_SECRET_KEY"
	EnvTLS       = "GRL_S3_TLS"
	EnvRegion    = "GRL_S3_REGION"
	// The AWS SDKs' names, accepted when ours are unset so that existing
	// credentials work as they are.
	EnvAWSAccessKey = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretKey = "AWS_SECRET_ACCESS_KEY"
)

// ConfigFromEnv reads a Config from the environment through lookup
// (os.LookupEnv in main, a map in tests). GRL_S3_ENDPOINT and GRL_S3_BUCKET
// are required; the keys fall back to AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY; GRL_S3_TLS is a boolean (strconv.ParseBool).
func ConfigFromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(names ...string) string {
		for _, n := range names {
			if v, ok := lookup(n); ok && strings.TrimSpace(v) != "" {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	cfg := Config{
		Endpoint:  get(EnvEndpoint),
		Bucket:    get(EnvBucket),
		AccessKey: get(EnvAccessKey, EnvAWSAccessKey),
		SecretKey: get(EnvSecretKey, EnvAWSSecretKey),
		Region:    get(EnvRegion),
	}
	var errs []error
	if cfg.Endpoint == "" {
		errs = append(errs, fmt.Errorf("%s is not set (host:port or URL of the S3 server)", EnvEndpoint))
	}
	if cfg.Bucket == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvBucket))
	}
	if v := get(EnvTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a boolean", EnvTLS, v))
		}
		cfg.UseTLS = b
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("s3 config from environment: %w", err)
	}
	return cfg, nil
}

// minScrubLen is the shortest key redact scrubs from error messages.
const minScrubLen = 8

// MinIOStore is the Store over minio-go, for MinIO, AWS S3 and any other
// S3-compatible server.
type MinIOStore struct {
	client   *minio.Client
	bucket   string
	region   string
	partSize uint64
	// opened holds the stores of the other buckets OpenBucket has opened,
	// shared by every store of this client.
	opened *sync.Map
	// secrets are scrubbed from every error message, in case a server or
	// transport error ever echoes one.
	secrets []string
}

var (
	_ Store        = (*MinIOStore)(nil)
	_ SHA256Putter = (*MinIOStore)(nil)
	_ BucketOpener = (*MinIOStore)(nil)
)

// NewMinIO returns a Store for cfg's bucket. It talks to the server only
// when cfg.CreateBucket is set (to create the bucket if missing); otherwise
// a wrong endpoint or key shows up at the first call.
func NewMinIO(cfg Config) (*MinIOStore, error) {
	s := &MinIOStore{bucket: cfg.Bucket, region: cfg.Region, partSize: cfg.PartSize, opened: new(sync.Map)}
	for _, k := range []string{cfg.SecretKey, cfg.AccessKey} {
		// Shorter keys are test placeholders (MinIO requires 8-character
		// secrets; AWS keys are 20 and 40), and scrubbing them would
		// garble ordinary words in messages.
		if len(k) >= minScrubLen {
			s.secrets = append(s.secrets, k)
		}
	}
	if s.partSize == 0 {
		s.partSize = DefaultPartSize
	}
	host, secure, err := parseEndpoint(cfg.Endpoint, cfg.UseTLS)
	if err != nil {
		return nil, s.redact(fmt.Errorf("new s3 store: %w", err))
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, s.redact(fmt.Errorf("new s3 store: bucket %q: %w", cfg.Bucket, err))
	}
	if s.partSize < minPartSize || s.partSize > maxPartSize {
		return nil, fmt.Errorf("new s3 store: part size %d is outside S3's %d to %d bytes", s.partSize, minPartSize, maxPartSize)
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return nil, errors.New("new s3 store: set both the access key and the secret key, or neither for anonymous access")
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	}
	s.client, err = minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region})
	if err != nil {
		return nil, s.redact(fmt.Errorf("new s3 store %s: %w", host, err))
	}
	if cfg.CreateBucket {
		// NewMinIO takes no context; bound the setup so that an
		// unreachable server fails start-up instead of hanging it in
		// minio-go's retries.
		ctx, cancel := context.WithTimeout(context.Background(), bucketSetupTimeout)
		defer cancel()
		if err := s.ensureBucket(ctx, cfg.Region); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// parseEndpoint splits an Endpoint into minio-go's host:port and TLS flag.
func parseEndpoint(endpoint string, useTLS bool) (host string, secure bool, err error) {
	switch {
	case endpoint == "":
		return "", false, errors.New("empty endpoint")
	case strings.Contains(endpoint, "@"):
		// Keys in the endpoint would end up in logs; they belong in the
		// Config's key fields.
		return "", false, fmt.Errorf("endpoint %q must not contain credentials; use the access and secret key settings", redactEndpoint(endpoint))
	case !strings.Contains(endpoint, "://"):
		return endpoint, useTLS, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("endpoint %q is not a URL", endpoint)
	}
	switch {
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "", false, fmt.Errorf("endpoint %q must not have a path or query; the bucket is set separately", endpoint)
	case u.Host == "":
		return "", false, fmt.Errorf("endpoint %q has no host", endpoint)
	}
	switch u.Scheme {
	case "https":
		return u.Host, true, nil
	case "http":
		if useTLS {
			return "", false, fmt.Errorf("endpoint %q is http but TLS is requested", endpoint)
		}
		return u.Host, false, nil
	default:
		return "", false, fmt.Errorf("endpoint %q: scheme must be http or https", endpoint)
	}
}

// OpenBucket implements BucketOpener: the store of bucket name on the same
// server with the same credentials, created if it does not exist. Each
// bucket is checked once per process.
func (s *MinIOStore) OpenBucket(ctx context.Context, name string) (Store, error) {
	if name == s.bucket {
		return s, nil
	}
	if b, ok := s.opened.Load(name); ok {
		return b.(*MinIOStore), nil
	}
	if err := s3utils.CheckValidBucketNameStrict(name); err != nil {
		return nil, fmt.Errorf("open bucket %q: %w", name, err)
	}
	b := &MinIOStore{client: s.client, bucket: name, region: s.region, partSize: s.partSize, opened: s.opened, secrets: s.secrets}
	if err := b.ensureBucket(ctx, s.region); err != nil {
		return nil, err
	}
	actual, _ := s.opened.LoadOrStore(name, b)
	return actual.(*MinIOStore), nil
}

func (s *MinIOStore) ensureBucket(ctx context.Context, region string) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap("check bucket", "", err)
	}
	if exists {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil {
		// Another process may have created it since we looked.
		if code := errorCode(err); code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			return nil
		}
		return s.wrap("create bucket", "", err)
	}
	return nil
}

// Put implements Store.
func (s *MinIOStore) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (ObjectInfo, error) {
	return s.put(ctx, key, r, size, contentType, "")
}

// PutSHA256 implements SHA256Putter.
func (s *MinIOStore) PutSHA256(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (ObjectInfo, error) {
	return s.put(ctx, key, r, size, contentType, sha256Hex)
}

func (s *MinIOStore) put(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, s.redact(fmt.Errorf("put %q: %w", key, err))
	}
	if size < -1 {
		return ObjectInfo{}, s.wrap("put", key, fmt.Errorf("invalid size %d", size))
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	if size < 0 {
		// minio-go sends every stream of unknown size as a multipart
		// upload: three requests and a multipart ETag even for a short
		// log. Reading up to one part first turns short streams into a
		// single PUT of known size.
		var head bytes.Buffer
		n, err := io.CopyN(&head, r, int64(s.partSize)+1)
		switch {
		case err == io.EOF:
			r, size = &head, n
		case err != nil:
			return ObjectInfo{}, s.wrap("put", key, fmt.Errorf("read: %w", err))
		default:
			r = io.MultiReader(&head, r)
		}
	}
	opts := minio.PutObjectOptions{ContentType: contentType, PartSize: s.partSize}
	if size == 0 {
		// Over plain HTTP minio-go frames every PUT body in aws-chunked
		// signed chunks. An empty object has no payload to sign, and
		// versitygw v1.8.0 answers before reading the empty body's final
		// chunk, then parses it as a new request (a 400 that net/http
		// logs as an unsolicited response). UNSIGNED-PAYLOAD sends no body.
		opts.DisableContentSha256 = true
	}
	if sha256Hex != "" {
		// Sent as X-Amz-Meta-Sha256 in the same request (or in the
		// CreateMultipartUpload of a multipart upload), so the checksum and
		// the bytes become visible together.
		opts.UserMetadata = map[string]string{MetaSHA256: sha256Hex}
	}
	up, err := s.client.PutObject(ctx, s.bucket, key, r, size, opts)
	if err != nil {
		return ObjectInfo{}, s.wrap("put", key, err)
	}
	return ObjectInfo{
		Key:          key,
		Size:         up.Size,
		ETag:         up.ETag,
		SHA256:       sha256Hex,
		LastModified: up.LastModified,
		ContentType:  contentType,
	}, nil
}

// Get implements Store.
func (s *MinIOStore) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, ObjectInfo{}, s.redact(fmt.Errorf("get %q: %w", key, err))
	}
	// minio.Core's GetObject sends one GET and returns its headers and
	// body together. The Client's lazy *Object would send a second,
	// If-Match conditioned GET for the body, which fails with
	// PreconditionFailed whenever a writer replaces the object in between.
	body, oi, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, s.wrap("get", key, err)
	}
	rc := &wrapReadCloser{rc: body, wrap: func(err error) error { return s.wrap("get", key, fmt.Errorf("read: %w", err)) }}
	return rc, fromMinIO(oi), nil
}

// Stat implements Store.
func (s *MinIOStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, s.redact(fmt.Errorf("stat %q: %w", key, err))
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.wrap("stat", key, err)
	}
	return fromMinIO(oi), nil
}

// List implements Store.
func (s *MinIOStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	// Cancelling stops minio-go's listing goroutine if we return early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []ObjectInfo
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, s.wrap("list", prefix, oi.Err)
		}
		out = append(out, ObjectInfo{Key: oi.Key, Size: oi.Size, ETag: oi.ETag, LastModified: oi.LastModified})
	}
	// The listing ends silently when ctx is cancelled mid-way; a partial
	// list must not pass for a complete one.
	if err := ctx.Err(); err != nil {
		return nil, s.wrap("list", prefix, err)
	}
	// S3 lists in UTF-8 byte order already; sorting here makes that a
	// guarantee for every server, not a property of each one's listing.
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (s *MinIOStore) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return s.redact(fmt.Errorf("delete %q: %w", key, err))
	}
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	// S3 answers 204 for a missing key; some servers say NoSuchKey.
	if err != nil && errorCode(err) != minio.NoSuchKey {
		return s.wrap("delete", key, err)
	}
	return nil
}

// fromMinIO keeps what Store promises of minio-go's ObjectInfo.
func fromMinIO(oi minio.ObjectInfo) ObjectInfo {
	info := ObjectInfo{
		Key:          oi.Key,
		Size:         oi.Size,
		ETag:         oi.ETag,
		LastModified: oi.LastModified,
		ContentType:  oi.ContentType,
	}
	// minio-go strips X-Amz-Meta- and canonicalises the rest, but a proxy
	// may change the case, so look the key up without it.
	for k, v := range oi.UserMetadata {
		if strings.EqualFold(k, MetaSHA256) {
			info.SHA256 = strings.ToLower(v)
		}
	}
	return info
}

// errorCode is the S3 error code in err, or "". minio-go returns its
// ErrorResponse by value, unwrapped; errors.As also finds it if a later
// version wraps it (minio.ToErrorResponse would not).
func errorCode(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return minio.ToErrorResponse(err).Code
}

// wrap names the operation and object in err and translates the S3 codes
// callers act on into our sentinels, so they never import minio-go.
func (s *MinIOStore) wrap(op, key string, err error) error {
	where := "s3://" + s.bucket + "/" + key
	switch errorCode(err) {
	case minio.NoSuchKey:
		err = fmt.Errorf("%s %s: %w", op, where, ErrNotFound)
	case minio.NoSuchBucket:
		if op == "get" || op == "stat" {
			// The object is not there either; the message says why.
			err = fmt.Errorf("%s %s: %w: bucket %q does not exist", op, where, ErrNotFound, s.bucket)
		} else {
			err = fmt.Errorf("%s %s: bucket %q does not exist: %w", op, where, s.bucket, err)
		}
	default:
		err = fmt.Errorf("%s %s: %w", op, where, err)
	}
	return s.redact(err)
}

// redact scrubs the configured keys from err's message, keeping its chain
// for errors.Is and errors.As.
func (s *MinIOStore) redact(err error) error {
	if err == nil || len(s.secrets) == 0 {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, k := range s.secrets {
		clean = strings.ReplaceAll(clean, k, redacted)
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
