package torchload

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"alexnet/internal/safetensors"
)

// The fixtures come from scripts/make_torchvision_fixtures.py (PyTorch 1.13).
var stateDictFixtures = []string{"tiny_zip.pt", "tiny_legacy.pt", "checkpoint_p4.pt"}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadMatchesPyTorch reads the same state_dict saved three ways and compares
// every tensor with the float32 values PyTorch itself produced (.float()), in order.
func TestReadMatchesPyTorch(t *testing.T) {
	want, err := safetensors.ReadFile(filepath.Join("testdata", "tiny_expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range stateDictFixtures {
		t.Run(name, func(t *testing.T) {
			got, err := ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want.Tensors) {
				t.Fatalf("%d tensors, want %d", len(got), len(want.Tensors))
			}
			for i, w := range want.Tensors {
				g := got[i]
				if g.Name != w.Name {
					t.Errorf("tensor %d is %q, want %q (file order)", i, g.Name, w.Name)
					continue
				}
				if !slices.Equal(g.Shape, w.Shape) {
					t.Errorf("%s: shape %v, want %v", g.Name, g.Shape, w.Shape)
					continue
				}
				if len(g.Data) != len(w.Data) {
					t.Errorf("%s: %d values, want %d", g.Name, len(g.Data), len(w.Data))
					continue
				}
				// Every conversion (float16, bfloat16, float64 -> float32) is exact
				// or correctly rounded on both sides, so the values must be identical.
				worst, at := 0.0, -1
				for j := range w.Data {
					if d := math.Abs(float64(g.Data[j] - w.Data[j])); d > worst || (g.Data[j] != w.Data[j] && at < 0) {
						worst, at = d, j
					}
				}
				if at >= 0 {
					t.Errorf("%s: largest difference %g at flat index %d (got %v, want %v)", g.Name, worst, at, g.Data[at], w.Data[at])
				}
			}
		})
	}
}

// TestFixtureCoverage guards the fixtures themselves: they must keep exercising
// views, sharing and every dtype, or TestReadMatchesPyTorch proves less.
func TestFixtureCoverage(t *testing.T) {
	z, err := zip.NewReader(bytes.NewReader(readFixture(t, "tiny_zip.pt")), int64(len(readFixture(t, "tiny_zip.pt"))))
	if err != nil {
		t.Fatal(err)
	}
	var pkl []byte
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/data.pkl") {
			rc, _ := f.Open()
			pkl, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	known := map[string]*storageRef{}
	u := &unpickler{r: bufioReader(pkl), limit: int64(len(pkl))}
	u.persID = func(pid any) (any, error) { return newStorageRef(pid, false, known) }
	obj, err := u.load()
	if err != nil {
		t.Fatal(err)
	}
	names, tensors, err := stateDict(obj)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	var transposed, offset bool
	users := map[*storageRef]int{}
	for i, tr := range tensors {
		types[tr.storage.typ] = true
		users[tr.storage]++
		if len(tr.stride) == 2 && tr.stride[0] < tr.stride[1] {
			transposed = true
		}
		if tr.offset > 0 {
			offset = true
		}
		_ = names[i]
	}
	shared := false
	for _, n := range users {
		shared = shared || n > 1
	}
	for _, typ := range []string{"FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage"} {
		if !types[typ] {
			t.Errorf("fixture has no %s tensor", typ)
		}
	}
	if !transposed || !offset || !shared {
		t.Errorf("fixture lacks a transposed tensor (%v), a storage offset (%v) or a shared storage (%v)", transposed, offset, shared)
	}
}

func TestNotPyTorch(t *testing.T) {
	cases := map[string][]byte{
		"safetensors": readFixture(t, "tiny_expected.safetensors"),
		"png":         readFixture(t, "img_256x256.png"),
		"empty":       {},
		// A plain pickle of {} (protocol 2): a pickle, but not torch.save's.
		"plain pickle": []byte("\x80\x02}q\x00."),
	}
	for name, b := range cases {
		_, err := Decode(b)
		if !errors.Is(err, ErrNotPyTorch) {
			t.Errorf("%s: error %v, want ErrNotPyTorch", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestTruncated cuts each fixture at every length: always an error, never a
// panic, and for the legacy stream always ErrTruncated (the zip format's
// directory is at the end, so a cut zip is a "truncated" archive too).
func TestTruncated(t *testing.T) {
	for _, name := range stateDictFixtures {
		b := readFixture(t, name)
		for n := 4; n < len(b); n++ {
			_, err := Decode(b[:n])
			if err == nil {
				t.Fatalf("%s cut to %d bytes: no error", name, n)
			}
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s cut to %d bytes: %v, want ErrTruncated", name, n, err)
			}
		}
	}
}

// rezip rewrites a zip fixture through edit, which returns a member's new bytes
// (nil drops it); extra members are added at the end.
func rezip(t *testing.T, src []byte, edit func(name string, b []byte) []byte, extra map[string][]byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if b = edit(f.Name, b); b != nil {
			write(f.Name, b)
		}
	}
	for name, b := range extra {
		write(name, b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func keep(_ string, b []byte) []byte { return b }

func TestErrorsNameTheProblem(t *testing.T) {
	src := readFixture(t, "tiny_zip.pt")
	replacePkl := func(old, new string) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "data.pkl") {
				return bytes.Replace(b, []byte(old), []byte(new), 1)
			}
			return b
		}
	}
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"rezipped fixture reads", rezip(t, src, keep, nil), ""},
		{"unsupported dtype", rezip(t, src, replacePkl("torch\nFloatStorage\n", "torch\nComplexFloatStorage\n"), nil),
			"torch.ComplexFloatStorage is not supported"},
		{"unsupported opcode", rezip(t, src, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "data.pkl") {
				return []byte("\x80\x02\x82\x01.")
			}
			return b
		}, nil), "unsupported pickle opcode EXT1"},
		{"unknown opcode", rezip(t, src, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "data.pkl") {
				return []byte("\x80\x02\xff.")
			}
			return b
		}, nil), "unknown pickle opcode 0xff"},
		{"missing storage", rezip(t, src, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "/data/0") {
				return nil
			}
			return b
		}, nil), "data/0 is missing"},
		{"short storage", rezip(t, src, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "/data/0") {
				return b[:len(b)-4]
			}
			return b
		}, nil), "truncated"},
		{"torchscript", rezip(t, src, keep, map[string][]byte{"tiny_zip/constants.pkl": []byte("\x80\x02).")}), "TorchScript"},
		{"big endian", rezip(t, src, keep, map[string][]byte{"tiny_zip/byteorder": []byte("big")}), "byte order \"big\""},
		{"quantized", rezip(t, src, replacePkl("_rebuild_tensor_v2\n", "_rebuild_qtensor\n"), nil),
			"tensor kind torch._utils._rebuild_qtensor is not supported"},
		{"whole module", rezip(t, src, func(name string, b []byte) []byte {
			if strings.HasSuffix(name, "data.pkl") {
				return []byte("\x80\x02ctorchvision.models.alexnet\nAlexNet\n)\x81.")
			}
			return b
		}, nil), "whole torchvision.models.alexnet.AlexNet object"},
	}
	for _, c := range cases {
		ts, err := Decode(c.file)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && len(ts) == 0:
			t.Errorf("%s: no tensors", c.name)
		case c.want != "" && err == nil:
			t.Errorf("%s: no error, want one containing %q", c.name, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: error %q, want it to contain %q", c.name, err, c.want)
		case err != nil:
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestPickleOpcodes runs hand-written pickles through the machine for the
// protocol 0/1 paths torch.save does not take but older writers might.
func TestPickleOpcodes(t *testing.T) {
	cases := []struct {
		pkl  string
		want string // typeName and a rendering of the result
	}{
		{"I42\n.", "42"},
		{"I01\n.", "true"},
		{"L123456789012345678901234567890L\n.", "123456789012345678901234567890"},
		{"F1.5\n.", "1.5"},
		{"S'abc'\n.", "abc"},
		{"Vabc\n.", "abc"},
		{"(I1\nI2\nl.", "[1 2]"},
		{"(dp0\nS'a'\np1\nI1\nsg1\n.", "a"}, // GET after SETITEM returns the memoised key
		{"\x80\x02\x8a\x01\xff.", "-1"},
		{"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", "18446744073709551616"},
		{"\x80\x02J\xff\xff\xff\xff.", "-1"},
		{"\x80\x02M\x01\x02.", "513"},
		{"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01x\x94.", "x"},
		{"\x80\x02]q\x00(K\x01K\x02e.", "[1 2]"},
		{"\x80\x02K\x01K\x02\x86q\x000.", "(error)"}, // POP leaves an empty stack
	}
	for _, c := range cases {
		u := &unpickler{r: bufioReader([]byte(c.pkl)), limit: int64(len(c.pkl))}
		v, err := u.load()
		got := render(v)
		if err != nil {
			got = "(error)"
		}
		if got != c.want {
			t.Errorf("%q: got %s (err %v), want %s", c.pkl, got, err, c.want)
		}
	}
}

func render(v any) string {
	switch x := v.(type) {
	case *pyList:
		var parts []string
		for _, it := range x.items {
			parts = append(parts, render(it))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case string:
		return x
	}
	return strings.TrimSpace(strings.ReplaceAll(fmtAny(v), "\n", " "))
}

// FuzzDecode feeds corrupted files to the reader: it may fail, but must not
// panic, hang or allocate without bound, and what it returns must be consistent.
//
//	go test ./internal/torchload -run '^$' -fuzz FuzzDecode -fuzztime 20s
func FuzzDecode(f *testing.F) {
	for _, name := range stateDictFixtures {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The memory ceiling: storages are bounded by twice the file, what tensors
		// make of them by the file plus extraElems (views, shared storages).
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ts, err := Decode(b)
		runtime.ReadMemStats(&after)
		if grew, ceiling := after.TotalAlloc-before.TotalAlloc, uint64(16*len(b)+3*4*extraElems+64<<20); grew > ceiling {
			t.Fatalf("%d input bytes allocated %d (ceiling %d)", len(b), grew, ceiling)
		}
		if err != nil {
			return
		}
		for _, x := range ts {
			n := 1
			for _, d := range x.Shape {
				n *= d
			}
			if n != len(x.Data) {
				t.Fatalf("%s: shape %v but %d values", x.Name, x.Shape, len(x.Data))
			}
		}
	})
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func fmtAny(v any) string { return fmt.Sprint(v) }

// Read's check sees every tensor's name and shape, in both formats, before any
// storage is read; its error ends the read.
func TestReadCheck(t *testing.T) {
	for _, name := range []string{"tiny_zip.pt", "tiny_legacy.pt"} {
		want, err := ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string][]int{}
		if _, err := ReadFile(filepath.Join("testdata", name), func(n string, shape []int) error {
			seen[n] = shape
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if fmt.Sprint(seen[w.Name]) != fmt.Sprint(w.Shape) {
				t.Errorf("%s: check saw %s as %v, it is %v", name, w.Name, seen[w.Name], w.Shape)
			}
		}
		refuse := errors.New("not this one")
		if _, err := ReadFile(filepath.Join("testdata", name), func(string, []int) error { return refuse }); !errors.Is(err, refuse) {
			t.Errorf("%s: a refusing check gave %v", name, err)
		}
	}
}

// A pickle nesting MARKs without end is refused by the depth bound, cheaply.
func TestPickleBounds(t *testing.T) {
	deep := append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, maxPickleDepth+10)...)
	u := &unpickler{r: bufioReader(deep), limit: int64(len(deep))}
	if _, err := u.load(); err == nil || !strings.Contains(err.Error(), "nested marks") {
		t.Errorf("%d nested marks: %v", maxPickleDepth+10, err)
	}
	wide := append([]byte{0x80, 2}, bytes.Repeat([]byte{'N'}, maxPickleItems+10)...) // NONE pushes
	u = &unpickler{r: bufioReader(wide), limit: int64(len(wide))}
	if _, err := u.load(); err == nil || !strings.Contains(err.Error(), "items") {
		t.Errorf("%d pushes: %v", maxPickleItems+10, err)
	}
}

// A global outside the allow-list (the classic os.system) is refused by name at
// the opcode that names it, as torch.load(weights_only=True) refuses it; allowed
// ones pass.
func TestUnknownGlobalRefused(t *testing.T) {
	for _, c := range []struct {
		pickle string
		say    string
	}{
		{"\x80\x02cos\nsystem\n.", "the global os.system"},
		{"\x80\x02X\x05\x00\x00\x00posixX\x06\x00\x00\x00system\x93.", "the global posix.system"}, // STACK_GLOBAL
		{"\x80\x02ccollections\nOrderedDict\n.", ""},
		{"\x80\x02cargparse\nNamespace\n.", ""},
	} {
		u := &unpickler{r: bufioReader([]byte(c.pickle)), limit: int64(len(c.pickle))}
		_, err := u.load()
		if (c.say == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.say)) {
			t.Errorf("%q: %v, want %q", c.pickle, err, c.say)
		}
	}
}
