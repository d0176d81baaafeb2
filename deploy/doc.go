// Package deploy holds no code: its tests check grlscaler's packaging in
// `make test`, without Docker or a cluster. They parse the repository's
// docker-compose.yaml, Dockerfile and Kustomize manifests
// (infra/kustomize) and hold them to the code they package: the
// environment grlctl worker reads (infra/objstore, Temporal's environment
// configuration), the search attributes it uses (workflows/api), pinned
// images, declared volumes, health checks and secrets kept out of the
// files.
//
// deploy/compose has the scripts docker-compose.yaml's one-shot services
// run (schema, namespace and search attributes, bucket and S3 user) and the
// Temporal server's dynamic configuration.
package deploy
