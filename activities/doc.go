// Package activities holds the Temporal activities: every side effect of an
// experiment (deploy, warm up, train a chunk, run load, evaluate, report),
// as idempotent, heartbeating adapters over envs, model and infra. The
// experiment pipeline issue fills it.
package activities
