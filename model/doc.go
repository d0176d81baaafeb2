// Package model holds grlscaler's agents: actor-critic networks (an MLP,
// the seed's gym-hpa baseline; GNNs with GCN or GAT encoders over the
// service-call graph, with the seed's [deployment, move] heads or a
// per-node head that runs on apps of any size), the PPO and A2C algorithms
// that train them against any envs.Env, and checkpoints that resume
// training exactly. It imports nothing of ours but envs.
//
// The networks are gorgonia expression graphs built once per batch size
// and run by a reused TapeMachine; the layers are fused gorgonia ops
// (model/nn) over the numeric kernels of model/kernel, because gorgonia's
// per-op overhead dominates at these sizes.
package model
