// Package app holds what each command does, as run functions over options structs,
// so the commands in cmd/ only parse flags and every behaviour is testable here.
package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"alexnet/configs"
	"alexnet/internal/backend"
	"alexnet/internal/config"
)

// Exit codes, so scripts can tell a bad invocation from a failed run.
const (
	ExitOK          = 0
	ExitError       = 1   // the run failed
	ExitUsage       = 2   // bad flags, config or input files
	ExitUnavailable = 3   // a backend, library or data set is missing
	ExitInterrupted = 130 // SIGINT/SIGTERM; a checkpoint was written
)

// ExitError carries the exit code a command should end with.
type ExitErr struct {
	Code int
	Err  error
	// Quiet: the error was told already (by data-parallel rank 0, for all
	// ranks); exit with Code, print nothing.
	Quiet bool
}

func (e *ExitErr) Error() string { return e.Err.Error() }
func (e *ExitErr) Unwrap() error { return e.Err }

func usage(err error) error { return &ExitErr{Code: ExitUsage, Err: err} }

// Usage marks err as a bad invocation: exit code 2 (ExitUsage).
func Usage(err error) error       { return usage(err) }
func unavailable(err error) error { return &ExitErr{Code: ExitUnavailable, Err: err} }

// Code is the exit code for err.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *ExitErr
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitError
}

// ConfigSource names the config to read: a file, or a built-in one by name
// ("alexnet", "alexnet-owt.yaml"); empty means the built-in default.
type ConfigSource struct {
	Path string
	Sets []string
	// Devices ("0,1", "0,0", "cpu,cpu") turns on the paper's model parallelism.
	Devices string
	// Precision overrides train.precision (fp32, tf32, bf16, fp16).
	Precision string
}

// sets are the --set overrides plus what --devices and --precision stand for.
func (s ConfigSource) sets() []string {
	sets := append([]string(nil), s.Sets...)
	if s.Devices != "" {
		sets = append(sets, "parallel.mode=model", "parallel.devices=["+s.Devices+"]")
	}
	if s.Precision != "" {
		sets = append(sets, "train.precision="+s.Precision)
	}
	return sets
}

// Load reads the config and returns it with the text it came from.
func (s ConfigSource) Load() (*config.Config, []byte, error) {
	name := s.Path
	var text []byte
	var err error
	ext := filepath.Ext(name)
	switch {
	case name == "":
		name = configs.Default
		text, err = configs.Get(name)
	case !strings.ContainsRune(name, '/') && ext != ".yaml" && ext != ".yml":
		// A bare name ("alexnet") is a built-in config, never a file that happens to
		// share it (such as the alexnet binary itself).
		text, err = configs.Get(name)
	default:
		text, err = os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) && filepath.Base(name) == name {
			if builtin, berr := configs.Get(name); berr == nil {
				text, err = builtin, nil
			}
		}
	}
	if err != nil {
		return nil, nil, usage(fmt.Errorf("config: %w", err))
	}
	c, err := config.Load(name, text, s.sets())
	if err != nil {
		return nil, nil, usage(err)
	}
	return c, text, nil
}

func isUnavailable(err error) bool { return errors.Is(err, backend.ErrUnavailable) }
