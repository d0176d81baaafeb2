// Package infra holds the clients to the outside: the S3 object store,
// Kubernetes, Prometheus, Linkerd viz, Locust, and the local dev stack,
// each behind a small interface. The pipeline and real-cluster issues fill
// it; the simulated cluster (envs/sim) needs none of it.
package infra
