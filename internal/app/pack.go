package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"alexnet/internal/config"
	"alexnet/internal/dataset"
	"alexnet/internal/progress"
	"alexnet/internal/train"
)

// PackOptions are the flags of `alexnet pack`.
type PackOptions struct {
	Config  ConfigSource
	Out     string // folder for <split>.pack
	Size    int    // shorter side; used only when SizeSet, else the config's data.resize
	SizeSet bool
	Square  bool
	// Encoding of the records: raw (default) or jpeg at Quality (0: 90).
	Encoding string
	Quality  int
	Splits   []string // default: the config's train and validation splits
	Workers  int
	Strict   bool
	// Progress is how the per-split progress shows (tests turn it off).
	Progress progress.Mode
}

// Pack decodes and resizes the config's data set once into packs that
// `data.format: packed` reads without decoding. Progress goes to errOut, the
// outcome to out.
func Pack(o PackOptions, out, errOut io.Writer) error {
	c, _, err := o.Config.Load()
	if err != nil {
		return err
	}
	if o.Out == "" {
		return usage(errors.New("pack: --out DIR is required (the folder for train.pack and val.pack)"))
	}
	switch c.Data.Format {
	case "packed":
		return usage(fmt.Errorf("pack: the config already reads packs (data.format packed, data.root %s); point it at the original images", c.Data.Root))
	case "synthetic":
		return usage(errors.New("pack: synthetic data is made on the fly; there is nothing to pack"))
	}
	size := c.Data.Resize
	if o.SizeSet {
		size = o.Size
	}
	if o.Workers < 0 || o.Workers > config.MaxWorkers {
		return usage(fmt.Errorf("pack: --workers %d: want 0 (every core) to %d", o.Workers, config.MaxWorkers))
	}
	if size < 0 || size > dataset.MaxPackSize {
		return usage(fmt.Errorf("pack: --size %d: want 0 (keep the images' sizes) to %d", size, dataset.MaxPackSize))
	}
	if o.Square && size == 0 {
		return usage(errors.New("pack: --square needs a size (--size, or data.resize in the config)"))
	}
	switch o.Encoding {
	case "", dataset.PackRaw:
		if o.Quality != 0 {
			return usage(errors.New("pack: --quality is for --encoding jpeg"))
		}
	case dataset.PackJPEG:
		if o.Quality < 0 || o.Quality > 100 {
			return usage(fmt.Errorf("pack: --quality %d: want 1 to 100", o.Quality))
		}
	default:
		return usage(fmt.Errorf("pack: --encoding %q: want raw or jpeg", o.Encoding))
	}
	splits, explicit := o.Splits, len(o.Splits) > 0
	if !explicit {
		splits = []string{c.Data.Train, c.Data.Val}
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	// A pack killed outright (SIGKILL, out of memory) cannot remove its
	// temporary file; say where they are, they can be large.
	if stale, _ := filepath.Glob(filepath.Join(o.Out, "*"+dataset.PackExt+".*.tmp")); len(stale) > 0 {
		for _, f := range stale {
			if fi, err := os.Stat(f); err == nil {
				fmt.Fprintf(errOut, "pack: %s (%s) is left from an earlier pack that was killed; delete it unless a pack is running now\n", f, humanBytes(fi.Size()))
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	packed := 0
	for _, split := range splits {
		src, err := train.OpenSource(c, split)
		var missing *train.MissingDataError
		switch {
		case errors.As(err, &missing):
			return unavailable(err)
		case err != nil && !explicit && split == c.Data.Val:
			fmt.Fprintf(errOut, "pack: no %s split (%v); packing the others\n", split, err)
			continue
		case err != nil:
			return usage(err)
		}
		source := c.Data.Root
		if c.Data.Format == "imagefolder" {
			source = filepath.Join(c.Data.Root, split)
		}
		path := dataset.PackPath(o.Out, split)
		bar := progress.New(errOut, src.Len(), "pack "+split, progress.Options{Mode: o.Progress, Unit: "image"})
		start := time.Now()
		st, err := dataset.Pack(ctx, src, path, dataset.PackOptions{Size: size, Square: o.Square, Workers: o.Workers,
			Encoding: o.Encoding, Quality: o.Quality,
			Strict: o.Strict, Info: dataset.PackInfo{Source: source, Created: start.UTC().Format(time.RFC3339)},
			Progress: func(done int) {
				bar.Update(done, progress.Stats{Loss: progress.Absent, Top1: progress.Absent,
					ImagesPerSec: float64(done) / time.Since(start).Seconds()})
			}})
		bar.Finish()
		if err != nil {
			if ctx.Err() != nil {
				return &ExitErr{Code: ExitInterrupted, Err: fmt.Errorf("interrupted: %s not written (packs finished before it are kept); pack it with the same command and --split %s", path, split)}
			}
			return err
		}
		packed++
		fmt.Fprintf(out, "%s: %d images -> %s (%s) in %s, %.0f images/s\n", split, st.Images, path,
			humanBytes(st.Bytes), roundDuration(st.Elapsed), float64(src.Len())/st.Elapsed.Seconds())
		for i, s := range st.Skipped {
			if i == 10 {
				fmt.Fprintf(out, "  ... and %d more\n", len(st.Skipped)-10)
				break
			}
			fmt.Fprintf(out, "  failed to load, kept as a failed record (skipped in training): %v\n", s.Err)
		}
	}
	if packed == 0 {
		return unavailable(errors.New("pack: no split found to pack"))
	}
	how := ""
	if o.Config.Path != "" {
		how = " --config " + o.Config.Path
	}
	fmt.Fprintf(out, "train from it: alexnet train%s --set data.format=packed --set data.root=%s\n", how, o.Out)
	switch {
	case size == c.Data.Resize || c.Data.Resize == 0:
	case size == 0:
		fmt.Fprintf(out, "note: the images were packed at their own sizes and data.resize is %d, so the loader still resizes each one; pack with --size %d to skip that\n",
			c.Data.Resize, c.Data.Resize)
	default:
		fmt.Fprintf(out, "note: data.resize is %d and the packed images are %d on the shorter side, so the loader still resizes each one; pack with --size %d to skip that\n",
			c.Data.Resize, size, c.Data.Resize)
	}
	return nil
}

func humanBytes(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	v, u := float64(n), 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + " " + units[u]
}

// roundDuration keeps two or three significant figures: 1.23s, 41m7s.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}
