// Package worker is the Temporal worker's main: it dials Temporal, builds
// the clients, registers workflows and activities, and runs. The experiment
// pipeline issue fills it.
package worker
