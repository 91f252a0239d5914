//go:build !cgo

package jpeg

// Available reports whether Decode can use libturbojpeg: never without cgo.
func Available() bool { return false }

// Decode always fails without cgo.
func Decode(data []byte, dst []byte, check func(Info) error) ([]byte, Info, error) {
	return nil, Info{}, ErrUnavailable
}
