// Package checkpoint saves and loads a training run's state as one safetensors file:
// the weights under their own names ("conv1.weight"), the SGD momentum buffers under
// "momentum.<name>", and everything else (config, classes, counters, schedule state)
// as JSON in the safetensors metadata under the key "alexnet". Python reads it with
// safetensors.torch.load_file, and json.loads(metadata["alexnet"]) gives the State.
package checkpoint

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"alexnet/internal/safetensors"
)

// Version is the checkpoint format this program writes and the newest it reads. Bump it
// when State changes meaning (not when a field is merely added: old files leave new
// fields at their zero value).
const Version = 1

// MetadataKey is the safetensors metadata key that holds the State JSON. Its presence
// is what makes a safetensors file an alexnet checkpoint.
const MetadataKey = "alexnet"

// MomentumPrefix is prepended to a parameter's name to store its momentum buffer.
const MomentumPrefix = "momentum."

// Sentinel errors, for callers that react differently (for example, a resume that falls
// back from a corrupt last.ckpt to best.ckpt). Test them with errors.Is.
var (
	ErrNotExist      = fs.ErrNotExist
	ErrCorrupt       = errors.New("checkpoint is truncated or corrupt")
	ErrNotCheckpoint = errors.New("not an alexnet checkpoint")
	ErrVersion       = errors.New("unsupported checkpoint version")
)

// State is the non-tensor part of a checkpoint.
type State struct {
	Version   int               `json:"version"`
	Config    string            `json:"config"`  // the run's config as YAML text
	Classes   []string          `json:"classes"` // class names in label order
	Epoch     int               `json:"epoch"`   // completed epochs
	Step      int64             `json:"step"`    // completed optimizer steps, over all epochs
	Seed      uint64            `json:"seed"`
	LR        float64           `json:"lr"`         // learning rate in effect at the end of Epoch
	Best      float64           `json:"best"`       // best validation top-1 so far, a fraction in [0, 1]
	BestEpoch int               `json:"best_epoch"` // the epoch that reached Best (0: none yet)
	Schedule  json.RawMessage   `json:"schedule,omitempty"`
	Backend   string            `json:"backend"`
	Threads   int               `json:"threads"`
	Created   time.Time         `json:"created"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// Checkpoint is a whole training state.
type Checkpoint struct {
	Weights  []safetensors.Tensor // parameters, in model order
	Momentum []safetensors.Tensor // momentum buffers, named like the parameter they belong to
	State    State
}

// Weight returns the named parameter.
func (c *Checkpoint) Weight(name string) (safetensors.Tensor, bool) {
	return find(c.Weights, name)
}

// MomentumFor returns the momentum buffer of the named parameter.
func (c *Checkpoint) MomentumFor(name string) (safetensors.Tensor, bool) {
	return find(c.Momentum, name)
}

func find(ts []safetensors.Tensor, name string) (safetensors.Tensor, bool) {
	for _, t := range ts {
		if t.Name == name {
			return t, true
		}
	}
	return safetensors.Tensor{}, false
}

// Save writes ck to path atomically (temporary file, sync, rename): a crash leaves the
// previous checkpoint or the new one, never a torn file. The written State carries the
// current Version; a zero Created is set to now. ck itself is not modified.
func Save(path string, ck *Checkpoint) error {
	if ck == nil {
		return fmt.Errorf("save checkpoint %s: nil checkpoint", path)
	}
	weights := map[string][]int{}
	for _, w := range ck.Weights {
		switch {
		case w.Name == "":
			return fmt.Errorf("save checkpoint %s: a weight has no name", path)
		case strings.HasPrefix(w.Name, MomentumPrefix):
			return fmt.Errorf("save checkpoint %s: weight name %q uses the reserved prefix %q", path, w.Name, MomentumPrefix)
		}
		weights[w.Name] = w.Shape
	}
	tensors := make([]safetensors.Tensor, 0, len(ck.Weights)+len(ck.Momentum))
	tensors = append(tensors, ck.Weights...)
	for _, m := range ck.Momentum {
		shape, ok := weights[m.Name]
		if !ok {
			return fmt.Errorf("save checkpoint %s: momentum %q has no weight of that name", path, m.Name)
		}
		if !sameShape(shape, m.Shape) {
			return fmt.Errorf("save checkpoint %s: momentum %q has shape %v but its weight has %v", path, m.Name, m.Shape, shape)
		}
		m.Name = MomentumPrefix + m.Name
		tensors = append(tensors, m)
	}
	st := ck.State
	st.Version = Version
	if st.Created.IsZero() {
		st.Created = time.Now().UTC()
	}
	js, err := json.Marshal(st)
	if err != nil {
		// Only a non-finite float gets here (json refuses NaN): say which field.
		return fmt.Errorf("save checkpoint %s: state: %w (LR %v, Best %v)", path, err, st.LR, st.Best)
	}
	// "format": "pt" lets Python tools that check it (transformers) take the file as PyTorch.
	meta := map[string]string{MetadataKey: string(js), "format": "pt"}
	if err := safetensors.WriteFile(path, tensors, meta); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// Load reads the checkpoint at path. Every error is one line naming the path; it
// matches ErrNotExist, ErrCorrupt, ErrNotCheckpoint or ErrVersion where one applies.
func Load(path string) (*Checkpoint, error) {
	var ts []safetensors.Tensor
	ck, err := load(path, false, func(name string, shape []int) (safetensors.Dest, error) {
		data := make([]float32, numel(shape))
		return safetensors.Dest{Data: data, Done: func() error {
			ts = append(ts, safetensors.Tensor{Name: name, Shape: shape, Data: data})
			return nil
		}}, nil
	})
	if err != nil {
		return nil, err
	}
	weights := map[string][]int{}
	for _, t := range ts {
		if !strings.HasPrefix(t.Name, MomentumPrefix) {
			ck.Weights = append(ck.Weights, t)
			weights[t.Name] = t.Shape
		}
	}
	for _, t := range ts {
		name, ok := strings.CutPrefix(t.Name, MomentumPrefix)
		if !ok {
			continue
		}
		shape, ok := weights[name]
		if !ok || !sameShape(shape, t.Shape) {
			return nil, &loadError{fmt.Sprintf("checkpoint %s is truncated or corrupt: momentum %q does not match a weight; %s", path, name, advice(path)), ErrCorrupt}
		}
		t.Name = name
		ck.Momentum = append(ck.Momentum, t)
	}
	return ck, nil
}

// Reader reads a checkpoint in two passes over one open file: its state (config,
// classes, progress) from the header, which inference needs to build the network,
// then its weights into that network. One file: a checkpoint renamed over this
// one in between (a training run writing last.ckpt) cannot mix two checkpoints.
type Reader struct {
	f     *os.File
	path  string
	State *Checkpoint // the state alone: no tensors
}

// Open reads a checkpoint's state and keeps the file for LoadWeightsInto.
func Open(path string) (*Reader, error) {
	fh, err := openFile(path)
	if err != nil {
		return nil, err
	}
	ck, err := decode(fh, path, true, nil)
	if err != nil {
		fh.Close()
		return nil, err
	}
	return &Reader{f: fh, path: path, State: ck}, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// LoadWeightsInto reads the checkpoint's weights into the memory place gives for
// each (a backend's buffers: the weights are then held once); the momentum is
// skipped, not read.
func (r *Reader) LoadWeightsInto(place func(name string, shape []int) (safetensors.Dest, error)) error {
	path := r.path
	_, err := decode(r.f, path, false, func(name string, shape []int) (safetensors.Dest, error) {
		if strings.HasPrefix(name, MomentumPrefix) {
			return safetensors.Dest{}, nil
		}
		d, err := place(name, shape)
		if err != nil {
			return d, placeError{err}
		}
		if d.Done != nil {
			done := d.Done
			d.Done = func() error {
				if err := done(); err != nil {
					return placeError{err}
				}
				return nil
			}
		}
		return d, nil
	})
	var pe placeError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", path, pe)
	}
	return err
}

// IsBadFile reports whether err says the checkpoint itself is at fault (corrupt,
// not a checkpoint, another version, or weights its caller's network lacks), rather
// than the reading of it (an I/O error).
func IsBadFile(err error) bool {
	var le *loadError
	var pe placeError
	return errors.As(err, &le) || errors.As(err, &pe)
}

// placeError is the caller's own error from LoadWeightsInto's place: passed on as
// it is, not reported as a corrupt file.
type placeError struct{ err error }

func (e placeError) Error() string { return e.err.Error() }
func (e placeError) Unwrap() error { return e.err }

// load opens and checks a checkpoint, decodes its state, and hands its tensors to place.
func load(path string, stopAfterState bool, place func(name string, shape []int) (safetensors.Dest, error)) (*Checkpoint, error) {
	fh, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return decode(fh, path, stopAfterState, place)
}

// openFile opens a checkpoint for reading, with the errors users see.
func openFile(path string) (*os.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &loadError{fmt.Sprintf("checkpoint %s does not exist", path), ErrNotExist}
		}
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if fi.IsDir() {
		fh.Close()
		return nil, fmt.Errorf("checkpoint %s is a folder, not a file", path)
	}
	return fh, nil
}

// decode reads the checkpoint in fh from its start.
func decode(fh *os.File, path string, stopAfterState bool, place func(name string, shape []int) (safetensors.Dest, error)) (*Checkpoint, error) {
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	br := bufio.NewReaderSize(fh, 1<<20)

	// A file that does not start like safetensors (a PyTorch .pth zip, a YAML config
	// given by mistake) is "not a checkpoint", which is more useful than "corrupt".
	if head, err := br.Peek(9); err == nil && !looksLikeSafetensors(head) {
		return nil, &loadError{fmt.Sprintf("%s is not an alexnet checkpoint (not a safetensors file)", path), ErrNotCheckpoint}
	}
	// The state is decoded from the header before any tensor is placed, so a file of
	// another program or version is refused before its tensors are read.
	ck := &Checkpoint{}
	_, err = safetensors.DecodeFunc(br, fi.Size(), func(meta map[string]string) error {
		if err := ck.decodeState(path, meta); err != nil {
			return err
		}
		if stopAfterState {
			return safetensors.ErrStop
		}
		return nil
	}, place)
	var le *loadError
	var pe placeError
	switch {
	case errors.As(err, &le), errors.As(err, &pe):
		return nil, err
	case err != nil:
		return nil, &loadError{fmt.Sprintf("checkpoint %s is truncated or corrupt: %v; %s", path, err, advice(path)), ErrCorrupt}
	}
	return ck, nil
}

// decodeState reads the state from a checkpoint's metadata.
func (ck *Checkpoint) decodeState(path string, meta map[string]string) error {
	js, ok := meta[MetadataKey]
	if !ok {
		return &loadError{fmt.Sprintf("%s is a safetensors file but not an alexnet checkpoint (no %q metadata)", path, MetadataKey), ErrNotCheckpoint}
	}
	// Version first, alone: a newer format may change what the other fields mean.
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		return &loadError{fmt.Sprintf("checkpoint %s is truncated or corrupt: state metadata: %v; %s", path, err, advice(path)), ErrCorrupt}
	}
	if v.Version < 1 || v.Version > Version {
		return &loadError{fmt.Sprintf("checkpoint %s has format version %d; this program reads versions 1 to %d", path, v.Version, Version), ErrVersion}
	}
	if err := json.Unmarshal([]byte(js), &ck.State); err != nil {
		return &loadError{fmt.Sprintf("checkpoint %s is truncated or corrupt: state metadata: %v; %s", path, err, advice(path)), ErrCorrupt}
	}
	return nil
}

// looksLikeSafetensors checks the first 9 bytes: a plausible header length and a JSON
// object starting right after it.
func looksLikeSafetensors(head []byte) bool {
	var n uint64
	for i := 7; i >= 0; i-- {
		n = n<<8 | uint64(head[i])
	}
	return n >= 2 && n <= 100<<20 && head[8] == '{'
}

// advice suggests the run's other checkpoint: train writes last.ckpt every epoch and
// best.ckpt when validation improves, side by side.
func advice(path string) string {
	switch filepath.Base(path) {
	case "last.ckpt":
		return "use best.ckpt from the same run folder or retrain"
	case "best.ckpt":
		return "use last.ckpt from the same run folder or retrain"
	}
	return "use last.ckpt/best.ckpt or retrain"
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// loadError is a one-line message that still matches its sentinel with errors.Is, so
// the message need not repeat the sentinel's own text.
type loadError struct {
	msg  string
	kind error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.kind }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
