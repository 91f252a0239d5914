// The kernels of pool.go's adaptive average pooling.
// Part of the one NVRTC program of kernels.go, after kernels.cuh and round16.cuh.

// Adaptive average pooling for windows of uneven size (torchvision's
// AdaptiveAvgPool2d): cell i of out covers rows floor(i*h/oh) .. ceil((i+1)*h/oh)-1.
//   x [planes, h, w]   y [planes, oh, ow]
extern "C" __global__ void adaptive_avg_forward(const float *x, float *y, long long planes, int h,
                                                int w, int oh, int ow) {
	GRID_LOOP(i, planes * oh * ow) {
		int ox = (int)(i % ow), oy = (int)((i / ow) % oh);
		long long p = i / ((long long)ow * oh);
		int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
		int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
		const float *src = x + p * h * w;
		double s = 0;
		for (int yy = y0; yy < y1; yy++)
			for (int xx = x0; xx < x1; xx++) s += (double)src[yy * w + xx];
		y[i] = (float)(s / (double)((y1 - y0) * (x1 - x0)));
	}
}

// Its backward, gathering rather than scattering so no atomics are needed: each input
// adds the share dy/count of every cell whose window holds it (windows may overlap).
//   dy [planes, oh, ow]   dx [planes, h, w] (overwritten)
extern "C" __global__ void adaptive_avg_backward(const float *dy, float *dx, long long planes, int h,
                                                 int w, int oh, int ow) {
	GRID_LOOP(i, planes * h * w) {
		int xx = (int)(i % w), yy = (int)((i / w) % h);
		long long p = i / ((long long)w * h);
		const float *g = dy + p * oh * ow;
		double s = 0;
		for (int oy = 0; oy < oh; oy++) {
			int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
			if (yy < y0 || yy >= y1) continue;
			for (int ox = 0; ox < ow; ox++) {
				int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
				if (xx < x0 || xx >= x1) continue;
				s += (double)g[oy * ow + ox] / (double)((y1 - y0) * (x1 - x0));
			}
		}
		dx[i] = (float)s;
	}
}
