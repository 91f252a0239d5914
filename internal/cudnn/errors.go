package cudnn

import (
	"errors"
	"fmt"

	"alexnet/internal/backend"
)

// unavailable is why the backend cannot run here; it matches backend.ErrUnavailable
// with errors.Is but prints only its own message, which is meant to be one line a
// user can act on.
type unavailable struct {
	msg string
	err error // optional cause
}

func (u *unavailable) Error() string {
	if u.err != nil {
		return u.msg + ": " + u.err.Error()
	}
	return u.msg
}

func (u *unavailable) Unwrap() []error {
	if u.err != nil {
		return []error{backend.ErrUnavailable, u.err}
	}
	return []error{backend.ErrUnavailable}
}

func unavailablef(err error, format string, args ...any) error {
	return &unavailable{msg: fmt.Sprintf(format, args...), err: err}
}

// IsUnavailable reports whether err says the GPU backend cannot run on this machine.
func IsUnavailable(err error) bool { return errors.Is(err, backend.ErrUnavailable) }
