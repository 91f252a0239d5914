// Package jpeg decodes baseline and progressive JPEGs with libjpeg-turbo's
// TurboJPEG API when libturbojpeg.so.0 can be loaded at run time (Debian and
// Ubuntu: the libturbojpeg0 package), about three times faster than Go's
// image/jpeg. Nothing links against the library: it is opened with dlopen on
// first use, and Available reports false when it is missing, when the
// program was built without cgo, or when ALEXNET_TURBOJPEG=0 is set; callers
// then use image/jpeg.
//
// The decoder runs with libjpeg's defaults, the ones PIL uses: the accurate
// integer IDCT (JDCT_ISLOW) and "fancy" (triangular) chroma upsampling. Its
// pixels can therefore differ by a few levels from image/jpeg's, whose IDCT
// differs and which replicates chroma samples; each decoder alone is
// deterministic.
package jpeg

import "errors"

// ErrUnavailable is returned by Decode when libturbojpeg cannot be used.
var ErrUnavailable = errors.New("jpeg: libturbojpeg.so.0 not available")

// Info is a JPEG header's size and colour layout.
type Info struct {
	Width, Height int
	Gray          bool // one component: Decode gives 1 channel, else 3 (RGB)
}
