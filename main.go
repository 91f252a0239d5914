// Command alexnet trains and runs AlexNet on oneDNN (CPU) and cuDNN (GPU).
package main

import (
	"os"

	"alexnet/cmd"
)

func main() {
	os.Exit(cmd.Execute(cmd.Root(), os.Args[1:], os.Stderr))
}
