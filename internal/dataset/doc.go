// Package dataset feeds images to training and evaluation: sources that read
// data sets, JPEG/PNG decoding, the paper's augmentation, and a Loader that
// batches in worker goroutines ahead of the model.
//
// # Sources
//
// A Source is random access to labelled images (Image: 8-bit, HWC, 1 or 3
// channels), safe for concurrent Loads. Open builds one from a Config, or
// call the constructors:
//
//	OpenFolder(root, "train", FolderOptions{})  // ImageNet layout: root/train/<class>/*.JPEG
//	OpenIDX(root, "train", nil)                 // MNIST / Fashion-MNIST, .gz or raw
//	OpenCIFAR10(root, "test", nil)              // data_batch_*.bin, test_batch.bin
//	NewSynthetic(n, c, h, w, classes, seed)     // random images, for benchmarks
//	OpenPacked(PackPath(root, "train"))         // a pack made by Pack (`alexnet pack`)
//
// Folder follows torchvision's ImageFolder: classes are the sorted folder
// names, so label i here is label i there. Display names come from a labels
// file ("n01440764 tench, Tinca tinca" lines). IDX names its classes after
// Fashion-MNIST when the path contains "fashion", else "0".."9"; pass names
// to override. Decoding refuses an image over MaxPixels from its header, and
// every error names the file.
//
// A pack is a Source stored already resized, in one memory-mapped file: raw
// pixels (no decoding or resizing at load; batches equal the original
// source's bit for bit) or JPEGs of the resized images (smaller, lossy).
// Pack writes one from any Source, keeping failed images as failed records
// so indices, and so shuffles, do not move.
//
// # Transform
//
// Transform is, in order: resize the shorter side (PIL's antialiased
// bilinear, as torchvision's Resize; byte for byte equal to PIL 9.4 on the
// cases in testdata), crop (random, optionally after zero
// padding, or centred), mirror with probability 1/2, scale to [0,1], add the
// paper's PCA lighting noise (fb.resnet.torch's formula and ImageNet's
// eigenvectors), normalise by mean and std. Its random draws come from an RNG
// given per sample; the Loader seeds it from (seed, epoch, sample index), so
// an augmented image never depends on scheduling. Eval() gives the same
// transform with the randomness removed; TenCrop gives the ten evaluation
// crops (corners and centre, and their mirrors).
//
// # Loader
//
//	l, err := dataset.NewLoader(src, tf, dataset.LoaderConfig{BatchSize: 128, Shuffle: true, Seed: 1})
//	stats, err := l.Run(ctx, epoch, func(b *dataset.Batch) error {
//	    // b.X is N*C*H*W float32, b.Labels N int32; valid until this returns
//	    return nil
//	})
//
// Run shuffles by (Seed, epoch), so restarting at epoch e reproduces epoch
// e's order; Workers goroutines decode and augment, Prefetch batches are
// prepared ahead, and batches arrive in order whatever the number of
// workers. A sample that fails to load stops the epoch in Strict mode;
// otherwise it is left out of its batch (which then has fewer images; an
// emptied batch is not delivered) and reported in Batch.Skipped and
// Stats.Skipped, unless nothing at all loads from the start, which is an
// error. Stats.Wait tells how long the model waited for data; Throughput
// measures the loader alone (for `alexnet bench`).
package dataset
