package app

import (
	"runtime/debug"
	"strings"
)

// Version is the module's version and the VCS revision the binary was built from
// (Go's build information, which make build asks for with -buildvcs=auto), e.g.
// "v0.0.0-20261202162701-86667c8ee4b9+dirty, go1.26.8", or "(devel), go1.26.8" when
// the build recorded no revision.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return v + ", " + bi.GoVersion
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if strings.Contains(v, rev) { // a pseudo-version names the revision already
		return v + ", " + bi.GoVersion
	}
	info := "rev " + rev + dirty
	if at != "" {
		info += ", " + at
	}
	return v + " (" + info + "), " + bi.GoVersion
}
