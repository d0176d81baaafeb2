package cli

import (
	"fmt"
	"os"

	"github.com/grlscaler/grlscaler/infra/objstore"
)

// s3EnvHelp names the environment variables the object store is read from.
const s3EnvHelp = `GRL_S3_ENDPOINT, GRL_S3_BUCKET, GRL_S3_ACCESS_KEY, GRL_S3_SECRET_KEY
(or AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), GRL_S3_TLS, GRL_S3_REGION`

// storeFromEnv connects to the object store configured in the environment
// (objstore.ConfigFromEnv). A non-empty bucket, such as the one in an
// experiment's memo, replaces GRL_S3_BUCKET, which then need not be set.
// create makes the bucket when it is missing. A missing or malformed
// setting is a usage error.
func storeFromEnv(bucket string, create bool) (*objstore.MinIOStore, objstore.Config, error) {
	lookup := func(name string) (string, bool) {
		if name == objstore.EnvBucket && bucket != "" {
			return bucket, true
		}
		return os.LookupEnv(name)
	}
	cfg, err := objstore.ConfigFromEnv(lookup)
	if err != nil {
		return nil, objstore.Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	cfg.CreateBucket = create
	store, err := objstore.NewMinIO(cfg)
	if err != nil {
		return nil, objstore.Config{}, err
	}
	return store, cfg, nil
}
