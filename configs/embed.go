// Package configs holds the shipped network configurations; they are embedded in
// the binary so `alexnet train` with no --config runs the default out of the box.
package configs

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Default is the config `alexnet train` runs when given none.
const Default = "fashion-mnist.yaml"

// Get returns an embedded config by file name ("alexnet.yaml" or "alexnet").
func Get(name string) ([]byte, error) {
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("no built-in config %q (built in: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the embedded configs.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}
