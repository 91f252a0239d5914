// Command alexnet trains and runs AlexNet on oneDNN (CPU) and cuDNN (GPU).
package main

import (
	"fmt"
	"os"

	"alexnet/cmd"
	"alexnet/internal/app"
)

func main() {
	err := cmd.Root().Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "alexnet:", err)
	}
	os.Exit(app.Code(err))
}
