// The rounding of float32 to bfloat16 and IEEE binary16 and back, internal/lowp's
// functions line for line: round to nearest even on the float's bits, fp16
// subnormals kept, overflow to infinity, NaN kept (quiet). Integer operations only,
// no cuda_fp16.h, so the GPU rounds exactly as the CPU backends' emulation does.
//
// Plain C apart from the macros it expects, AX_RD (function qualifiers), AX_F2U and
// AX_U2F (float <-> bits): kernels.cuh defines them for the GPU, and
// TestRoundingHost for the host C compiler, to compare with lowp bit for bit.
//
// fmt: 1 = bf16, 2 = fp16 (lowp.BF16, lowp.FP16).

AX_RD unsigned short ax_to_bf16(float x) {
	unsigned int b = AX_F2U(x);
	if ((b & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((b >> 16) | 0x0040u);
	b += 0x7fffu + ((b >> 16) & 1u); /* a carry out of the mantissa bumps the exponent, to inf at the top */
	return (unsigned short)(b >> 16);
}

AX_RD float ax_from_bf16(unsigned short h) { return AX_U2F((unsigned int)h << 16); }

AX_RD unsigned short ax_to_fp16(float x) {
	unsigned int b = AX_F2U(x);
	unsigned short sign = (unsigned short)((b >> 16) & 0x8000u);
	int exp = (int)((b >> 23) & 0xffu);
	unsigned int man = b & 0x7fffffu;
	if (exp == 0xff) return (unsigned short)(sign | (man != 0 ? 0x7e00u : 0x7c00u));
	int e = exp - 127 + 15; /* biased fp16 exponent */
	if (e >= 31) return (unsigned short)(sign | 0x7c00u);
	if (e <= 0) { /* fp16 subnormal (or zero): units of 2^-24 */
		if (e < -10) return sign; /* |x| < 2^-25, half the smallest subnormal: rounds to zero */
		man |= 0x800000u;
		unsigned int shift = (unsigned int)(14 - e);
		unsigned int h = man >> shift;
		unsigned int rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
		if (rem > half || (rem == half && (h & 1u) == 1u)) h++; /* may carry into the smallest normal */
		return (unsigned short)(sign | h);
	}
	unsigned int h = ((unsigned int)e << 10) | (man >> 13);
	unsigned int rem = man & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) h++; /* a carry into the exponent, up to inf */
	return (unsigned short)(sign | h);
}

AX_RD float ax_from_fp16(unsigned short h) {
	unsigned int sign = (unsigned int)(h & 0x8000u) << 16;
	unsigned int exp = ((unsigned int)h >> 10) & 0x1fu;
	unsigned int man = (unsigned int)h & 0x3ffu;
	if (exp == 0x1fu) return AX_U2F(sign | 0x7f800000u | (man << 13));
	if (exp != 0) return AX_U2F(sign | ((exp + 127u - 15u) << 23) | (man << 13));
	if (man == 0) return AX_U2F(sign);
	float v = (float)man * (1.0f / 16777216.0f); /* subnormal: exact in float32 */
	return sign != 0 ? -v : v;
}

AX_RD unsigned short ax_to16(float x, int fmt) { return fmt == 2 ? ax_to_fp16(x) : ax_to_bf16(x); }
AX_RD float ax_from16(unsigned short h, int fmt) { return fmt == 2 ? ax_from_fp16(h) : ax_from_bf16(h); }
