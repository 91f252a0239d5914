// Package mpitest runs a test binary as the ranks of an mpirun job, for the
// tests of the packages that use MPI.
package mpitest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"alexnet/internal/mpi"
)

// Command is mpirun starting this test binary as ranks processes with args, env
// added to the environment. Without mpirun the test is skipped, unless
// ALEXNET_REQUIRE_MPI is set (CI sets it, so a missing Open MPI fails there
// instead of passing unseen).
func Command(t *testing.T, ranks int, env []string, args ...string) *exec.Cmd {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv("ALEXNET_REQUIRE_MPI") != "" {
			t.Fatalf("mpirun not found and ALEXNET_REQUIRE_MPI is set: %v", err)
		}
		t.Skipf("mpirun not found (install openmpi-bin): %v", err)
	}
	cmd := exec.Command(mpirun, append([]string{"--allow-run-as-root", "--oversubscribe", "-np", fmt.Sprint(ranks), os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Run runs cmd, logs its output and returns it.
func Run(t *testing.T, cmd *exec.Cmd) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("%s:\n%s", strings.Join(cmd.Args[:5], " "), out.String())
	return out.String(), err
}

// Ranks runs the calling test again as ranks processes of mpirun and checks that
// every rank passed; it reports true inside the ranks, which then do the test's
// work, and false in the parent.
func Ranks(t *testing.T, ranks int) bool {
	t.Helper()
	if mpi.Launched() {
		return true
	}
	out, err := Run(t, Command(t, ranks, nil, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1"))
	if err != nil {
		t.Fatalf("mpirun: %v", err)
	}
	if n := strings.Count(out, "--- PASS: "+t.Name()); n != ranks {
		t.Fatalf("%d of %d ranks passed", n, ranks)
	}
	return false
}
