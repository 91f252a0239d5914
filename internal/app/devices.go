package app

import (
	"fmt"
	"io"

	"alexnet/internal/cudnn"
	"alexnet/internal/mpi"
)

// Devices prints the MPI library data parallelism would use, then the GPUs and
// the CUDA, cuBLAS and cuDNN versions the cuda backend would use; with no GPU, one
// line saying what is missing (and exit code 3).
func Devices(out io.Writer) error {
	if v, err := mpi.Version(); err != nil {
		fmt.Fprintf(out, "mpi: none (%v): training runs as one process\n", err)
	} else {
		fmt.Fprintf(out, "mpi: %s (%s)\n", v, mpi.Library())
	}
	info, err := cudnn.Devices()
	if err != nil {
		if info != nil && len(info.Libraries) > 0 {
			for _, l := range info.Libraries {
				io.WriteString(out, "library: "+l.Name+" "+l.Path+"\n")
			}
		}
		return unavailable(err)
	}
	return info.Write(out)
}
