package onnx

import (
	"bytes"
	"strings"
	"testing"

	"alexnet/internal/config"
	"alexnet/internal/model"
)

func plan(t *testing.T, layers ...config.Layer) []model.LayerInfo {
	t.Helper()
	infos, err := model.Plan(config.Model{Input: config.Input{Channels: 8, Height: 1, Width: 1}, Classes: 8, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

// An even LRN window is refused (ONNX centres it one channel off), and a graph
// without a name gets one (the checker requires it).
func TestExportRefusesAndDefaults(t *testing.T) {
	var b bytes.Buffer
	err := Export(&b, Model{Layers: plan(t, config.Layer{Name: "norm", Type: config.LRN, Size: 4, Alpha: 1, Beta: 0.75, K: 1})})
	if err == nil || !strings.Contains(err.Error(), "LRN size 4") {
		t.Errorf("even LRN: %v", err)
	}
	b.Reset()
	if err := Export(&b, Model{Layers: plan(t, config.Layer{Name: "relu", Type: config.ReLU})}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("\x12\x07alexnet")) { // GraphProto.name, field 2
		t.Error("an unnamed graph got no name")
	}
}
