// Package model builds and runs the network a config describes. It is the one
// executor: the same code runs a network on one device and split over two.
//
// From config to running network, top down:
//
//	Plan(cfg)                  []LayerInfo: shapes, parameters, FLOPs per layer (plan.go);
//	                           Summarize totals them for `alexnet summary`
//	Place(infos, parts, align) []PlacedLayer: each layer's share on each device, and the
//	                           copies at the joins between devices (placement.go)
//	layout(plan, part, ...)    the buffers one device allocates, gradients shared
//	                           two per size (layout.go)
//	New / NewInference / NewOn a Network: per device a part with its backend, buffers,
//	                           ops and parameter rows (network.go, params.go)
//	Forward, Loss, Backward,   run the phases (phase.go): each device's ops in order,
//	Step                       on its own goroutine; devices meet only at a join
//
// One device is the case of one part: every layer is whole there, nothing is
// copied, and all of a pass is one phase run on the caller's goroutine, so it
// queues a device's work exactly as a plain layer loop would. Two parts are the
// paper's towers (Krizhevsky et al. 2012, section 3.2): a conv with groups 2 runs
// one group per device, a layer reading both towers' maps gathers them, LRN
// exchanges a halo of edge channels, the classifier runs on the first device.
// Place says why each rule equals the one-device network; TestTowersEqualSingleDevice
// checks it on every backend.
//
// A layer's op (conv.go, linear.go, relu.go, op.go for LRN and pooling, dropout.go,
// flatten.go) is one device's share of one layer, forward and backward side by
// side; it asks its backend and never knows which one, nor whether it is a part
// of something larger. Parameters are whole tensors named as in a PyTorch
// state_dict (Param), each held as row ranges by the parts (paramPart), so
// Weights and LoadWeights, Init's random streams and checkpoints are the same on
// one device and two.
//
// Data parallelism (one process per rank under mpirun, gradients all-reduced) sits
// beside this executor, not inside it: each rank builds its own Network, and the
// reduction needs only the points where a layer's parameter gradients are final,
// which BackwardLayer already gives layer by layer. The hybrid of "one weird
// trick" (data parallel convolutions, model parallel classifier) is a placement
// of the same kind as the towers, not another runtime.
package model
