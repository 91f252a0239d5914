package onnx

import (
	"encoding/binary"
	"math"
)

// The few protocol-buffer encodings an ONNX file needs, written by hand rather than
// through a protobuf library and generated code: a model is a handful of nested
// messages of strings, integers, floats and byte blobs. Field numbers are onnx.proto's
// (onnx/onnx, IR version 7+), named where they are used.

// msg is a message being built: its encoded fields in order.
type msg []byte

func (m *msg) key(field, wire int) { *m = binary.AppendUvarint(*m, uint64(field)<<3|uint64(wire)) }

// varint writes an int64 field (also enums and int32: negative values take ten bytes,
// as protobuf's int32 does).
func (m *msg) varint(field int, v int64) {
	m.key(field, 0)
	*m = binary.AppendUvarint(*m, uint64(v))
}

func (m *msg) float32(field int, v float32) {
	m.key(field, 5)
	*m = binary.LittleEndian.AppendUint32(*m, math.Float32bits(v))
}

func (m *msg) bytes(field int, b []byte) {
	m.key(field, 2)
	*m = binary.AppendUvarint(*m, uint64(len(b)))
	*m = append(*m, b...)
}

func (m *msg) string(field int, s string) { m.bytes(field, []byte(s)) }
func (m *msg) message(field int, sub msg) { m.bytes(field, sub) }

// ints writes a repeated int64 field unpacked, one key per value: onnx.proto is
// proto2, whose repeated scalars are unpacked unless marked (parsers accept both).
func (m *msg) ints(field int, vs []int64) {
	for _, v := range vs {
		m.varint(field, v)
	}
}
