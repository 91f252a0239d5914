package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"alexnet/internal/checkpoint"
	"alexnet/internal/progress"
)

// Training from a pack gives the same weights, bit for bit, as training from
// the data set it was made from: the batches are the same.
func TestPackThenTrainIsTheSame(t *testing.T) {
	be := backends(t)
	dir, cfg := setup(t)
	packDir := filepath.Join(dir, "packs")
	var out, log bytes.Buffer
	if err := Pack(PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Progress: progress.Off}, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for _, want := range []string{"train: 100 images -> " + filepath.Join(packDir, "train.pack"), "test: 100 images",
		"train from it: alexnet train --config " + cfg + " --set data.format=packed --set data.root=" + packDir} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	run := func(name string, sets ...string) *checkpoint.Checkpoint {
		o := TrainOptions{Config: ConfigSource{Path: cfg, Sets: append(sets, "train.epochs=1")},
			OutDir: filepath.Join(dir, name), Backend: be[len(be)-1], Threads: 2}
		if err := Train(o, &out, &log); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, log.String())
		}
		ck, err := checkpoint.Load(filepath.Join(dir, name, "last.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}
	a := run("idx")
	b := run("packed", "data.format=packed", "data.root="+packDir)
	for i, w := range a.Weights {
		for j := range w.Data {
			if w.Data[j] != b.Weights[i].Data[j] {
				t.Fatalf("%s[%d]: %v from idx, %v from the pack", w.Name, j, w.Data[j], b.Weights[i].Data[j])
			}
		}
	}
}

// A JPEG pack trains too (lossy: not the same weights), and says so in its description.
func TestPackJPEGTrains(t *testing.T) {
	be := backends(t)
	dir, cfg := setup(t)
	packDir := filepath.Join(dir, "packs")
	var out, log bytes.Buffer
	if err := Pack(PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Encoding: "jpeg", Quality: 95, Progress: progress.Off}, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	o := TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"train.epochs=1", "data.format=packed", "data.root=" + packDir}},
		OutDir: filepath.Join(dir, "run"), Backend: be[len(be)-1], Threads: 2}
	if err := Train(o, &out, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !strings.Contains(out.String(), "done: 1 epochs") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestPackErrors(t *testing.T) {
	dir, cfg := setup(t)
	var out, log bytes.Buffer
	packDir := filepath.Join(dir, "packs")
	for _, c := range []struct {
		o    PackOptions
		code int
		msg  string
	}{
		{PackOptions{Config: ConfigSource{Path: cfg}}, ExitUsage, "--out DIR is required"},
		{PackOptions{Config: ConfigSource{Path: cfg, Sets: []string{"data.root=" + filepath.Join(dir, "nothing")}}, Out: packDir}, ExitUnavailable, "data not found"},
		{PackOptions{Config: ConfigSource{Path: cfg, Sets: []string{"data.format=packed"}}, Out: packDir}, ExitUsage, "already reads packs"},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Square: true}, ExitUsage, "--square needs a size"},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Size: -1, SizeSet: true}, ExitUsage, "want 0 (keep the images' sizes) to 8192"},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Size: 100000, SizeSet: true}, ExitUsage, "--size 100000"},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Splits: []string{"holdout"}}, ExitUsage, "holdout"},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Encoding: "png"}, ExitUsage, `--encoding "png"`},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Quality: 80}, ExitUsage, "--quality is for --encoding jpeg"},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Encoding: "jpeg", Quality: 101}, ExitUsage, "want 1 to 100"},
		{PackOptions{Config: ConfigSource{Path: cfg}, Out: packDir, Workers: 10000}, ExitUsage, "--workers 10000"},
	} {
		err := Pack(c.o, &out, &log)
		if Code(err) != c.code || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v (code %d), want code %d and %q", c.o, err, Code(err), c.code, c.msg)
		}
	}
	// A temporary file left by a killed pack is pointed out; --size 0 with a
	// data.resize notes that the loader will still resize.
	os.MkdirAll(packDir, 0o755)
	os.WriteFile(filepath.Join(packDir, "train.pack.123.tmp"), []byte("x"), 0o644)
	out.Reset()
	log.Reset()
	if err := Pack(PackOptions{Config: ConfigSource{Path: cfg, Sets: []string{"data.resize=32", "data.crop=28"}}, Out: packDir, SizeSet: true, Progress: progress.Off}, &out, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "train.pack.123.tmp (1 B) is left from an earlier pack") {
		t.Errorf("no word of the stale temporary file:\n%s", log.String())
	}
	if !strings.Contains(out.String(), "packed at their own sizes and data.resize is 32") {
		t.Errorf("no note on --size 0:\n%s", out.String())
	}
	os.RemoveAll(packDir)
	// Training from a folder with no pack in it says how to make one.
	os.MkdirAll(packDir, 0o755)
	err := Train(TrainOptions{Config: ConfigSource{Path: cfg, Sets: []string{"data.format=packed", "data.root=" + packDir}},
		OutDir: filepath.Join(dir, "run"), Backend: "ref"}, &out, &log)
	if Code(err) != ExitUnavailable || !strings.Contains(err.Error(), "make it with `alexnet pack --config CONFIG --out "+packDir) {
		t.Errorf("training from a folder without packs: %v", err)
	}
}
