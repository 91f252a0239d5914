package plot

import (
	"image"
	"image/color"
)

// Raster primitives on an RGBA image. Everything clips to the image bounds, so callers
// may draw partly outside it.

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// dot is a square of side w centred on (x, y): the pen for thick lines and markers.
func dot(img *image.RGBA, x, y, w int, c color.RGBA) {
	fillRect(img, image.Rect(x-w/2, y-w/2, x-w/2+w, y-w/2+w), c)
}

// line draws from (x0, y0) to (x1, y1) with Bresenham's algorithm and a square pen.
func line(img *image.RGBA, x0, y0, x1, y1, w int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		dot(img, x0, y0, w, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e // once per pixel: both tests use the error before either update
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// dashedLine is a horizontal or vertical grid line: on for `on` pixels, off for `off`.
func dashedHLine(img *image.RGBA, x0, x1, y, on, off int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		if (x-x0)%(on+off) < on {
			dot(img, x, y, 1, c)
		}
	}
}

func dashedVLine(img *image.RGBA, x, y0, y1, on, off int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		if (y-y0)%(on+off) < on {
			dot(img, x, y, 1, c)
		}
	}
}

// text draws s with its top-left corner at (x, y), each font pixel a scale x scale square.
func text(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for _, r := range s {
		g := glyph(r)
		for row := 0; row < glyphH; row++ {
			for col := 0; col < glyphW; col++ {
				if g[row]&(1<<(glyphW-1-col)) != 0 {
					fillRect(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += advance * scale
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
