//go:build cgo

package jpeg

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef void *tjhandle;
static tjhandle (*p_init)(void);
static int (*p_destroy)(tjhandle);
static int (*p_header)(tjhandle, const unsigned char *, unsigned long, int *, int *, int *, int *);
static int (*p_decompress)(tjhandle, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int);
static char *(*p_errstr)(tjhandle);

// tj_open loads the library and its five functions; 0 on success.
static int tj_open(const char *name) {
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!h) return -1;
	p_init = dlsym(h, "tjInitDecompress");
	p_destroy = dlsym(h, "tjDestroy");
	p_header = dlsym(h, "tjDecompressHeader3");
	p_decompress = dlsym(h, "tjDecompress2");
	p_errstr = dlsym(h, "tjGetErrorStr2");
	if (!p_init || !p_destroy || !p_header || !p_decompress || !p_errstr) return -2;
	return 0;
}
static tjhandle tj_init(void) { return p_init(); }
static void tj_destroy(tjhandle h) { p_destroy(h); }
static int tj_header(tjhandle h, const unsigned char *buf, unsigned long n, int *w, int *ht, int *sub, int *cs) {
	return p_header(h, buf, n, w, ht, sub, cs);
}
static int tj_decompress(tjhandle h, const unsigned char *buf, unsigned long n, unsigned char *dst, int w, int pitch, int ht, int pf, int flags) {
	return p_decompress(h, buf, n, dst, w, pitch, ht, pf, flags);
}
static const char *tj_errstr(tjhandle h) { return p_errstr(h); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// TurboJPEG constants (turbojpeg.h, stable since 1.2).
const (
	tjpfRGB             = 0
	tjpfGray            = 6
	tjcsRGB             = 0
	tjcsYCbCr           = 1
	tjcsGray            = 2
	tjflagAccurateDCT   = 4096
	tjflagStopOnWarning = 8192
)

var (
	openOnce sync.Once
	openErr  error
	// handles is a free list of decompressors (one is not safe for
	// concurrent use; making one costs a few microseconds and some KB).
	handles = make(chan C.tjhandle, 64)
)

func open() error {
	openOnce.Do(func() {
		if v := os.Getenv("ALEXNET_TURBOJPEG"); v == "0" || v == "off" || v == "false" {
			openErr = fmt.Errorf("%w (ALEXNET_TURBOJPEG=%s)", ErrUnavailable, v)
			return
		}
		name := C.CString("libturbojpeg.so.0")
		defer C.free(unsafe.Pointer(name))
		if C.tj_open(name) != 0 {
			openErr = ErrUnavailable
		}
	})
	return openErr
}

// Available reports whether Decode can use libturbojpeg.
func Available() bool { return open() == nil }

func get() (C.tjhandle, error) {
	select {
	case h := <-handles:
		return h, nil
	default:
	}
	h := C.tj_init()
	if h == nil {
		return nil, errors.New("jpeg: tjInitDecompress failed")
	}
	return h, nil
}

func put(h C.tjhandle) {
	select {
	case handles <- h:
	default:
		C.tj_destroy(h)
	}
}

// Decode decodes data into dst (grown as needed): RGB, or gray for
// one-component files, rows top to bottom. check sees the header before
// any pixel is decoded and may refuse the image. Colour spaces other than
// YCbCr, RGB and gray (CMYK, YCCK) return an error, as does any warning
// libjpeg raises (a truncated or corrupt file): callers fall back to
// image/jpeg, which decides those cases as before.
func Decode(data []byte, dst []byte, check func(Info) error) ([]byte, Info, error) {
	if err := open(); err != nil {
		return nil, Info{}, err
	}
	if len(data) == 0 {
		return nil, Info{}, errors.New("jpeg: empty input")
	}
	h, err := get()
	if err != nil {
		return nil, Info{}, err
	}
	defer put(h)
	var w, ht, sub, cs C.int
	src := (*C.uchar)(unsafe.Pointer(&data[0]))
	if C.tj_header(h, src, C.ulong(len(data)), &w, &ht, &sub, &cs) != 0 {
		return nil, Info{}, fmt.Errorf("jpeg: %s", C.GoString(C.tj_errstr(h)))
	}
	info := Info{Width: int(w), Height: int(ht)}
	pf, ch := tjpfRGB, 3
	switch cs {
	case tjcsYCbCr, tjcsRGB:
	case tjcsGray:
		info.Gray, pf, ch = true, tjpfGray, 1
	default:
		return nil, info, fmt.Errorf("jpeg: colour space %d not decoded here", int(cs))
	}
	if check != nil {
		if err := check(info); err != nil {
			return nil, info, err
		}
	}
	n := info.Width * info.Height * ch
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if C.tj_decompress(h, src, C.ulong(len(data)), (*C.uchar)(unsafe.Pointer(&dst[0])),
		w, C.int(info.Width*ch), ht, C.int(pf), tjflagAccurateDCT|tjflagStopOnWarning) != 0 {
		return nil, info, fmt.Errorf("jpeg: %s", C.GoString(C.tj_errstr(h)))
	}
	return dst, info, nil
}
