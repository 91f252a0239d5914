package app

import (
	"io"

	"alexnet/internal/cudnn"
)

// Devices prints the GPUs and the CUDA, cuBLAS and cuDNN versions the cuda backend
// would use; with none, one line saying what is missing (and exit code 3).
func Devices(out io.Writer) error {
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
