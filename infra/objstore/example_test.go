package objstore_test

import (
	"context"
	"fmt"

	"github.com/grlscaler/grlscaler/infra/objstore"
)

// A checkpoint written with PutVerified is read back only if its bytes
// still hash to the SHA-256 the run manifest recorded.
func ExamplePutVerified() {
	ctx := context.Background()
	s := objstore.NewMemory()
	key := "experiments/e1/checkpoints/chunk-0001.ckpt"
	info, err := objstore.PutVerified(ctx, s, key, []byte("weights"))
	if err != nil {
		fmt.Println(err)
		return
	}
	manifestSHA256 := info.SHA256 // what the manifest records

	data, _, err := objstore.GetVerified(ctx, s, key, manifestSHA256)
	fmt.Printf("%s %v\n", data, err)

	_, _, err = objstore.GetVerified(ctx, s, key, "0000000000000000000000000000000000000000000000000000000000000000")
	fmt.Println(err)
	// Output:
	// weights <nil>
	// get verified experiments/e1/checkpoints/chunk-0001.ckpt: object failed sha256 verification: content has sha256 9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c, expected 0000000000000000000000000000000000000000000000000000000000000000
}
