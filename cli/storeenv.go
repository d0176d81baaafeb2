package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/grlscaler/grlscaler/infra/objstore"
)

// s3EnvHelp names the environment variables the object store is read from.
const s3EnvHelp = `GRL_S3_ENDPOINT, GRL_S3_BUCKET, GRL_S3_ACCESS_KEY, GRL_S3_SECRET_KEY
(or AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), GRL_S3_TLS, GRL_S3_REGION`

// s3Flags override the environment's non-secret S3 settings. The keys
// are read from the environment only: on a command line they would show
// in `ps` and in shell history.
type s3Flags struct {
	endpoint, bucket, region, tls string
}

func (f *s3Flags) add(cmd *cobra.Command, withBucket bool) {
	cmd.Flags().StringVar(&f.endpoint, "s3-endpoint", "", "S3 endpoint host:port or URL (default: "+objstore.EnvEndpoint+")")
	cmd.Flags().StringVar(&f.region, "s3-region", "", "S3 region (default: "+objstore.EnvRegion+")")
	cmd.Flags().StringVar(&f.tls, "s3-tls", "", "use TLS to S3: true or false (default: "+objstore.EnvTLS+")")
	if withBucket {
		cmd.Flags().StringVar(&f.bucket, "s3-bucket", "", "S3 bucket (default: "+objstore.EnvBucket+")")
	}
}

// storeFromEnv connects to the object store configured by the flags and
// the environment (objstore.ConfigFromEnv). A non-empty bucket, such as
// the one in an experiment's memo, replaces the bucket setting, which then
// need not be set. create makes the bucket when it is missing. A missing
// or malformed setting is a usage error.
func storeFromEnv(flags *s3Flags, bucket string, create bool) (*objstore.MinIOStore, objstore.Config, error) {
	if flags == nil {
		flags = &s3Flags{}
	}
	if bucket == "" {
		bucket = flags.bucket
	}
	override := map[string]string{objstore.EnvBucket: bucket, objstore.EnvEndpoint: flags.endpoint, objstore.EnvRegion: flags.region, objstore.EnvTLS: flags.tls}
	lookup := func(name string) (string, bool) {
		if v := override[name]; v != "" {
			return v, true
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
