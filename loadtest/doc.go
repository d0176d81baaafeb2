// Package loadtest runs real Locust against an app.
//
// It has four parts:
//
//   - GenerateLocustfile turns a scenario declaration (envs/load) and an app
//     (envs/app) into a Locust file: a LoadTestShape that runs the
//     scenario's stages and user cap, and a user class whose tasks are the
//     scenario's request types with their weights and wait time. The seed
//     (seed-spec 4) kept hand-written scripts that sent only GET /cart and
//     declared rates they did not send; here the file follows from the same
//     declaration the simulator runs, and each task sends exactly one request
//     of its request type, named after it, so Locust's statistics are counts
//     of the app's request types.
//   - Runner starts a Job (a Locust file, a target host and a duration) and
//     reports its Status and Results: LocalRunner runs Locust as a
//     subprocess, RemoteRunner asks a load agent over HTTP, and
//     KubernetesJobRunner runs it as a Kubernetes Job.
//   - Agent is the load agent's HTTP API (grlctl agent), a LocalRunner
//     behind a small JSON API whose jobs survive an agent restart.
//   - ParseResults reads Locust's CSV files into the evaluation's time
//     series: per sample RPS, p50/p95/p99 latency, failure rate and users,
//     per request type and in aggregate, with run totals.
package loadtest
