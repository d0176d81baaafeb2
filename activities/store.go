package activities

import (
	"context"
	"fmt"

	"github.com/grlscaler/grlscaler/infra/objstore"
	"github.com/grlscaler/grlscaler/workflows/api"
)

// storeFor returns the store of the spec's bucket: the worker's store
// opens it when it can reach other buckets (S3), else the worker's store
// is the only namespace there is (the in-memory fake).
func (a *Activities) storeFor(ctx context.Context, spec *api.ExperimentSpec) (objstore.Store, error) {
	o, ok := a.Store.(objstore.BucketOpener)
	if !ok {
		return a.Store, nil
	}
	s, err := o.OpenBucket(ctx, spec.Spec.Storage.Bucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", spec.Spec.Storage.Bucket, err)
	}
	return s, nil
}
