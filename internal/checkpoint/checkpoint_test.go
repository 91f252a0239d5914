package checkpoint

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"alexnet/internal/safetensors"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sample() *Checkpoint {
	return &Checkpoint{
		Weights: []safetensors.Tensor{
			{Name: "conv1.weight", Shape: []int{2, 3, 1, 1}, Data: []float32{0.1, -0.2, 0.3, -0.4, 0.5, -0.6}},
			{Name: "conv1.bias", Shape: []int{2}, Data: []float32{0, 1}},
			{Name: "fc8.weight", Shape: []int{3, 2}, Data: []float32{1, 2, 3, 4, 5, 6}},
		},
		Momentum: []safetensors.Tensor{
			{Name: "conv1.weight", Shape: []int{2, 3, 1, 1}, Data: []float32{1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3}},
			{Name: "fc8.weight", Shape: []int{3, 2}, Data: []float32{-1, -2, -3, -4, -5, -6}},
		},
		State: State{
			Config:    "model:\n  name: alexnet\ntrain:\n  lr: 0.01\n",
			Classes:   []string{"cat", "dog", "n01440764 tench"},
			Epoch:     7,
			Step:      1 << 40,
			Seed:      math.MaxUint64, // must survive JSON exactly (float64 would round it)
			LR:        0.001,
			Best:      0.5731,
			BestEpoch: 6,
			Schedule:  json.RawMessage(`{"type":"plateau","lr":0.001,"best":0.5731,"bad_epochs":1}`),
			Backend:   "onednn",
			Threads:   2,
			Created:   time.Date(2024, 5, 1, 12, 30, 0, 123456789, time.UTC),
			Extra:     map[string]string{"git": "abc123"},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "last.ckpt")
	in := sample()
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	if in.State.Version != 0 || in.Momentum[0].Name != "conv1.weight" {
		t.Error("Save modified its argument")
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	want.State.Version = Version
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if w, ok := got.Weight("fc8.weight"); !ok || w.Data[5] != 6 {
		t.Errorf("Weight(fc8.weight) = %v, %v", w, ok)
	}
	if m, ok := got.MomentumFor("conv1.weight"); !ok || m.Data[0] != 1e-3 {
		t.Errorf("MomentumFor(conv1.weight) = %v, %v", m, ok)
	}
	if _, ok := got.MomentumFor("conv1.bias"); ok {
		t.Error("MomentumFor(conv1.bias) found a buffer that was never saved")
	}

	// What Python sees: plain tensor names plus momentum.<name>, and the JSON state.
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tt := range f.Tensors {
		names = append(names, tt.Name)
	}
	wantNames := []string{"conv1.weight", "conv1.bias", "fc8.weight", "momentum.conv1.weight", "momentum.fc8.weight"}
	if !cmp.Equal(names, wantNames) {
		t.Errorf("tensor names %v, want %v", names, wantNames)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(f.Metadata[MetadataKey]), &st); err != nil {
		t.Fatalf("metadata %q is not JSON: %v", MetadataKey, err)
	}
	if st["version"] != float64(Version) || st["backend"] != "onednn" {
		t.Errorf("state JSON %v", st)
	}
}

func TestCreatedDefaultsToNow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.ckpt")
	ck := sample()
	ck.State.Created = time.Time{}
	before := time.Now()
	if err := Save(path, ck); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c := got.State.Created; c.Before(before.Add(-time.Second)) || c.After(time.Now().Add(time.Second)) {
		t.Errorf("Created %v, want about %v", c, before)
	}
}

func TestNoMomentum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.ckpt")
	ck := sample()
	ck.Momentum = nil
	if err := Save(path, ck); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Momentum) != 0 || len(got.Weights) != 3 {
		t.Errorf("got %d weights, %d momentum", len(got.Weights), len(got.Momentum))
	}
}

func TestSaveRejects(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]func(*Checkpoint){
		"reserved prefix": func(c *Checkpoint) { c.Weights[0].Name = "momentum.x" },
		"empty name":      func(c *Checkpoint) { c.Weights[1].Name = "" },
		"orphan momentum": func(c *Checkpoint) { c.Momentum[0].Name = "conv9.weight" },
		"momentum shape":  func(c *Checkpoint) { c.Momentum[1].Shape = []int{2, 3} },
		"NaN lr":          func(c *Checkpoint) { c.State.LR = math.NaN() },
		"bad data length": func(c *Checkpoint) { c.Weights[2].Data = c.Weights[2].Data[:5] },
	}
	for name, mutate := range cases {
		ck := sample()
		mutate(ck)
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := Save(path, ck); err == nil {
			t.Errorf("%s: Save succeeded", name)
		} else if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the path", name, err)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: a file was written", name)
		}
	}
	if err := Save(filepath.Join(dir, "nil"), nil); err == nil {
		t.Error("Save(nil) succeeded")
	}
}

// A failed save must leave the previous checkpoint loadable.
func TestFailedSaveKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "last.ckpt")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	bad := sample()
	bad.State.Best = math.Inf(1)
	if err := Save(path, bad); err == nil {
		t.Fatal("saving Inf succeeded")
	}
	if _, err := Load(path); err != nil {
		t.Errorf("old checkpoint no longer loads: %v", err)
	}
}

func checkErr(t *testing.T, err error, kind error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not match %v", err, kind)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q is more than one line", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ckpt")
	if err := Save(good, sample()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)

	_, err := Load(filepath.Join(dir, "missing.ckpt"))
	checkErr(t, err, ErrNotExist, "missing.ckpt", "does not exist")

	_, err = Load(dir)
	checkErr(t, err, nil, "folder")

	// Truncation anywhere after the first bytes reads as corrupt, with advice that
	// points at the run's other checkpoint.
	for _, tc := range []struct{ name, other string }{{"last.ckpt", "best.ckpt"}, {"best.ckpt", "last.ckpt"}, {"x.ckpt", "last.ckpt/best.ckpt"}} {
		for _, n := range []int{9, 20, len(raw) / 2, len(raw) - 1} {
			p := filepath.Join(dir, tc.name)
			os.WriteFile(p, raw[:n], 0o644)
			_, err = Load(p)
			checkErr(t, err, ErrCorrupt, p, "is truncated or corrupt", "use "+tc.other, "retrain")
		}
	}
	// Fewer bytes than a header length: also corrupt, never a panic.
	for n := 0; n < 9; n++ {
		p := filepath.Join(dir, "tiny.ckpt")
		os.WriteFile(p, raw[:n], 0o644)
		_, err = Load(p)
		checkErr(t, err, ErrCorrupt, "truncated")
	}

	// Something that is not safetensors at all.
	p := filepath.Join(dir, "model.pth")
	os.WriteFile(p, []byte("PK\x03\x04 a PyTorch zip archive......"), 0o644)
	_, err = Load(p)
	checkErr(t, err, ErrNotCheckpoint, p, "not a safetensors file")

	// A plain safetensors file (weights exported elsewhere).
	p = filepath.Join(dir, "plain.safetensors")
	if err := safetensors.WriteFile(p, sample().Weights, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	_, err = Load(p)
	checkErr(t, err, ErrNotCheckpoint, p, "not an alexnet checkpoint")

	// A newer format version.
	p = filepath.Join(dir, "future.ckpt")
	safetensors.WriteFile(p, sample().Weights, map[string]string{MetadataKey: `{"version":99,"epoch":1}`})
	_, err = Load(p)
	checkErr(t, err, ErrVersion, p, "version 99")

	// Metadata that is not JSON.
	p = filepath.Join(dir, "badjson.ckpt")
	safetensors.WriteFile(p, sample().Weights, map[string]string{MetadataKey: `{"version":1,`})
	_, err = Load(p)
	checkErr(t, err, ErrCorrupt, p, "state metadata")

	// A field of the wrong type.
	p = filepath.Join(dir, "badfield.ckpt")
	safetensors.WriteFile(p, sample().Weights, map[string]string{MetadataKey: `{"version":1,"epoch":"seven"}`})
	_, err = Load(p)
	checkErr(t, err, ErrCorrupt, p)

	// A momentum buffer with no weight.
	p = filepath.Join(dir, "orphan.ckpt")
	ts := append(sample().Weights, safetensors.Tensor{Name: "momentum.fc9.weight", Shape: []int{1}, Data: []float32{0}})
	safetensors.WriteFile(p, ts, map[string]string{MetadataKey: `{"version":1}`})
	_, err = Load(p)
	checkErr(t, err, ErrCorrupt, p, "fc9.weight")
}

// A flipped byte inside the tensor data cannot be detected (no checksum), and a flip in
// a tensor name only renames it (the model loader reports the missing name). Anything
// else in the header (lengths, shapes, offsets, dtypes) must not load with a tensor that
// keeps its name but gets other values: check every header byte of a small checkpoint.
func TestHeaderBitFlips(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.ckpt")
	want := sample()
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	hlen := int(raw[0]) | int(raw[1])<<8 | int(raw[2])<<16
	p := filepath.Join(dir, "flip.ckpt")
	for i := 0; i < 8+hlen; i++ {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x40
		os.WriteFile(p, bad, 0o644)
		ck, err := Load(p)
		if err != nil {
			continue
		}
		check := func(kind string, got, ref []safetensors.Tensor) {
			for _, g := range got {
				r, ok := find(ref, g.Name)
				if ok && !cmp.Equal(g, r, cmpopts.EquateEmpty()) {
					t.Errorf("flip at byte %d (%q): %s %s loaded as %v %v, want %v %v",
						i, raw[max(0, i-12):i+4], kind, g.Name, g.Shape, g.Data, r.Shape, r.Data)
				}
			}
		}
		check("weight", ck.Weights, want.Weights)
		check("momentum", ck.Momentum, want.Momentum)
	}
}

// Open reads the state from the header, and LoadWeightsInto the weights from the
// same open file, skipping the momentum: a checkpoint renamed over the path in
// between does not change what is read.
func TestOpenTwoPasses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "last.ckpt")
	w := []safetensors.Tensor{{Name: "fc.weight", Shape: []int{2}, Data: []float32{1, 2}}}
	if err := Save(path, &Checkpoint{Weights: w, Momentum: w, State: State{Config: "a", Classes: []string{"x"}}}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.State.State.Config != "a" || len(r.State.Weights) != 0 {
		t.Errorf("state %+v", r.State)
	}
	// Another checkpoint replaces the file, as training's atomic rename does.
	w2 := []safetensors.Tensor{{Name: "fc.weight", Shape: []int{2}, Data: []float32{7, 8}}}
	if err := Save(path, &Checkpoint{Weights: w2, State: State{Config: "b"}}); err != nil {
		t.Fatal(err)
	}
	var got []float32
	var names []string
	err = r.LoadWeightsInto(func(name string, shape []int) (safetensors.Dest, error) {
		names = append(names, name)
		got = make([]float32, 2)
		return safetensors.Dest{Data: got}, nil
	})
	if err != nil || len(names) != 1 || got[0] != 1 || got[1] != 2 {
		t.Errorf("weights from the opened file: %v %v %v, want fc.weight [1 2]", err, names, got)
	}
	refuse := errors.New("not this network's")
	err = r.LoadWeightsInto(func(string, []int) (safetensors.Dest, error) { return safetensors.Dest{}, refuse })
	if !errors.Is(err, refuse) || !IsBadFile(err) {
		t.Errorf("a refusing place: %v (bad file %v)", err, IsBadFile(err))
	}
}
