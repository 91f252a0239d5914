// Package lowp rounds float32 values to the reduced-precision formats of mixed
// precision training, bfloat16 and IEEE binary16, and converts to and from their
// bit patterns. The CPU backends use it to emulate what a GPU storing bf16 or fp16
// tensors does to the numbers; the GPU kernels round the same way (round to
// nearest, ties to even, overflow to infinity, fp16 subnormals kept), so a test
// can compare the two bit for bit.
package lowp

import "math"

// Format is a 16-bit floating-point format.
type Format int

const (
	BF16 Format = iota + 1 // 8-bit exponent, 7-bit mantissa: fp32's range
	FP16                   // 5-bit exponent, 10-bit mantissa: largest finite 65504
)

func (f Format) String() string {
	switch f {
	case BF16:
		return "bf16"
	case FP16:
		return "fp16"
	}
	return "Format(?)"
}

// Epsilon is the distance from 1 to the next larger value: the format's relative
// rounding step (half of it is the largest relative rounding error).
func (f Format) Epsilon() float32 {
	if f == FP16 {
		return 1.0 / 1024
	}
	return 1.0 / 128
}

// Round returns x rounded to f and widened back to float32.
func (f Format) Round(x float32) float32 {
	if f == FP16 {
		return FP16ToFloat(FloatToFP16(x))
	}
	return BF16ToFloat(FloatToBF16(x))
}

// RoundSlice writes dst[i] = f.Round(src[i]); dst and src may be the same slice.
func (f Format) RoundSlice(dst, src []float32) {
	dst = dst[:len(src)]
	if f == FP16 {
		for i, v := range src {
			dst[i] = FP16ToFloat(FloatToFP16(v))
		}
		return
	}
	for i, v := range src {
		dst[i] = BF16ToFloat(FloatToBF16(v))
	}
}

// FloatToBF16 rounds x to bfloat16 (ties to even); NaN stays NaN (quiet).
func FloatToBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1 // a carry out of the mantissa bumps the exponent, to inf at the top
	return uint16(b >> 16)
}

// BF16ToFloat widens a bfloat16 exactly.
func BF16ToFloat(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// FloatToFP16 rounds x to IEEE binary16 (ties to even), keeping subnormals;
// magnitudes from 65520 up become infinity; NaN stays NaN (quiet).
func FloatToFP16(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // biased fp16 exponent
	switch {
	case e >= 31:
		return sign | 0x7c00
	case e <= 0: // fp16 subnormal (or zero): units of 2^-24
		if e < -10 {
			return sign // below half the smallest subnormal (2^-25): rounds to zero
		}
		man |= 0x800000
		shift := uint(14 - e)
		h := man >> shift
		rem, half := man&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > half || rem == half && h&1 == 1 {
			h++ // may carry into the smallest normal, which is right
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // a carry into the exponent is right, up to infinity
	}
	return sign | uint16(h)
}

// FP16ToFloat widens an IEEE binary16 exactly.
func FP16ToFloat(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	v := float32(man) * (1.0 / (1 << 24)) // subnormal: exact in float32
	if sign != 0 {
		v = -v
	}
	return v
}
