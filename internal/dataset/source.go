package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// Source is random access to a labelled data set. Load and Name must be safe
// to call from several goroutines at once; Load's errors name the example
// (file, or file and record). Images may alias the source's memory: do not
// modify them.
type Source interface {
	Len() int
	Classes() []string // class names in label order
	Channels() int     // channels of every image Load returns (1 or 3)
	Load(i int) (Image, int32, error)
	Name(i int) string // for messages: a path, or "file[record]"
}

// FashionMNISTClasses are Fashion-MNIST's labels 0..9.
var FashionMNISTClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// CIFAR10Classes are CIFAR-10's labels 0..9, used when batches.meta.txt is missing.
var CIFAR10Classes = []string{
	"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck",
}

// Config names a source the way a configuration file does.
type Config struct {
	Kind  string // "imagefolder", "idx" (MNIST, Fashion-MNIST), "cifar10", "packed", "synthetic"
	Root  string // data folder (not for synthetic)
	Split string // "train", "test"/"val"; for imagefolder, the subfolder of Root; for packed, Root/Split.pack

	Classes    []string // class names overriding the built-in or found ones
	LabelsFile string   // imagefolder: "wnid name" lines, e.g. LOC_synset_mapping.txt
	Channels   int      // imagefolder: 3 (default) or 1

	// Synthetic: Len images of Channels x Height x Width in NumClasses classes.
	Len, Height, Width, NumClasses int
	Seed                           int64
}

// Open opens the source c describes.
func Open(c Config) (Source, error) {
	switch strings.ToLower(c.Kind) {
	case "imagefolder", "folder":
		return OpenFolder(c.Root, c.Split, FolderOptions{LabelsFile: c.LabelsFile, Channels: c.Channels, Classes: c.Classes})
	case "idx", "mnist", "fashion-mnist", "fashionmnist":
		return OpenIDX(c.Root, c.Split, c.Classes)
	case "cifar10", "cifar-10":
		return OpenCIFAR10(c.Root, c.Split, c.Classes)
	case "packed", "pack":
		return OpenPacked(PackPath(c.Root, c.Split))
	case "synthetic":
		ch := c.Channels
		if ch == 0 {
			ch = 3
		}
		return NewSynthetic(c.Len, ch, c.Height, c.Width, c.NumClasses, c.Seed)
	}
	return nil, fmt.Errorf("unknown data set kind %q (want imagefolder, idx, cifar10, packed or synthetic)", c.Kind)
}

// testSplit maps the names people use for the held-out half of MNIST-like
// sets, which ship only "train" and "test".
func testSplit(split string) (bool, error) {
	switch strings.ToLower(split) {
	case "train", "":
		return false, nil
	case "test", "val", "t10k":
		return true, nil
	}
	return false, fmt.Errorf("unknown split %q (want train or test)", split)
}

func digitNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// checkClasses verifies every label indexes a class name.
func checkClasses(labels []uint8, classes []string, where string) error {
	for i, l := range labels {
		if int(l) >= len(classes) {
			return fmt.Errorf("%s: record %d has label %d but there are %d classes", where, i, l, len(classes))
		}
	}
	return nil
}
