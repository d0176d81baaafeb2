// Package model holds the actor-critic networks (MLP and GNN, on gorgonia)
// and the PPO and A2C algorithms that train against any envs.Env, with
// checkpoints as byte streams. It imports nothing of ours. The learning-core
// issue fills it.
package model
