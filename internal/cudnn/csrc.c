// The loader lives in the project's csrc/ folder, beside the prototypes it fills in;
// cgo compiles only the C files of the package folder, so it is included from here.
//
// The go command's build cache does not see files included from outside the package
// folder: after editing csrc/*, rebuild with `go build -a` (or `go clean -cache`).
#include "axcuda.c"
