package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"alexnet/internal/checkpoint"
	"alexnet/internal/mpi"
	"alexnet/internal/mpi/mpitest"
)

// The data-parallel tests start this test binary under mpirun; TestMain sees a rank
// by ALEXNET_TEST_RANK_MAIN and runs Train as `alexnet train` would, from the
// environment below, instead of the tests.
func TestMain(m *testing.M) {
	if mpi.Launched() && os.Getenv("ALEXNET_TEST_RANK_MAIN") != "" {
		os.Exit(rankMain())
	}
	os.Exit(m.Run())
}

func rankMain() int {
	if dir := os.Getenv("ALEXNET_TEST_PIDS"); dir != "" {
		rank := os.Getenv("OMPI_COMM_WORLD_RANK")
		os.WriteFile(filepath.Join(dir, "rank"+rank), []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	var sets []string
	if s := os.Getenv("ALEXNET_TEST_SETS"); s != "" {
		sets = strings.Split(s, ";")
	}
	if s := os.Getenv("ALEXNET_TEST_SET_RANK1"); s != "" && os.Getenv("OMPI_COMM_WORLD_RANK") == "1" {
		sets = append(sets, s)
	}
	o := TrainOptions{Config: ConfigSource{Path: os.Getenv("ALEXNET_TEST_CONFIG"), Sets: sets},
		OutDir: os.Getenv("ALEXNET_TEST_OUT"), Resume: os.Getenv("ALEXNET_TEST_RESUME"),
		Backend: os.Getenv("ALEXNET_TEST_BACKEND"), Threads: 1}
	if o.Resume != "" {
		o.Config = ConfigSource{Sets: sets}
	}
	err := Train(o, os.Stdout, os.Stderr)
	var exit *ExitErr
	if err != nil && !(errors.As(err, &exit) && exit.Quiet) {
		fmt.Fprintln(os.Stderr, "alexnet:", err)
	}
	return Code(err)
}

// mpirunTrain is mpirun starting this binary as ranks processes, each running
// rankMain with env.
func mpirunTrain(t *testing.T, ranks int, env ...string) *exec.Cmd {
	t.Helper()
	return mpitest.Command(t, ranks, append([]string{"ALEXNET_TEST_RANK_MAIN=1"}, env...))
}

// longJob starts a 1000-epoch run of 2 ranks on ref into out and returns once
// rank 0 has written last.ckpt; done delivers the job's end, log its output.
func longJob(t *testing.T, out string, env ...string) (cmd *exec.Cmd, done <-chan error, log *bytes.Buffer) {
	t.Helper()
	_, cfg := setup(t)
	cmd = mpirunTrain(t, 2, append([]string{"ALEXNET_TEST_CONFIG=" + cfg, "ALEXNET_TEST_OUT=" + out,
		"ALEXNET_TEST_BACKEND=ref", "ALEXNET_TEST_SETS=train.epochs=1000"}, env...)...)
	log = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(out, "last.ckpt")); err == nil {
			return cmd, ch, log
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 60 s:\n%s", log.String())
		}
	}
}

// waitJob waits up to a minute for the job's end.
func waitJob(t *testing.T, cmd *exec.Cmd, done <-chan error, log *bytes.Buffer, after string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the job still runs 60 s after %s:\n%s", after, log.String())
		return nil
	}
}

// largestDiff compares two checkpoints' weights, relative to each tensor's largest value.
func largestDiff(t *testing.T, a, b string) float64 {
	t.Helper()
	ca, err1 := checkpoint.Load(a)
	cb, err2 := checkpoint.Load(b)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, w := range ca.Weights {
		var d, scale float64 = 0, 1e-3
		for j, v := range w.Data {
			d = math.Max(d, math.Abs(float64(v)-float64(cb.Weights[i].Data[j])))
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		worst = math.Max(worst, d/scale)
	}
	return worst
}

// Two ranks train the weights one process trains, 2 epochs of 7 batches, the last
// short (4 images: 2 each): on ref within 1e-6, on cpu within the conformance
// tolerance; rank 0 alone writes and prints, and its first line names the ranks.
// Resumed after epoch 1 with 2 ranks, the run ends bit for bit as the straight one.
func TestDataParallelTrainsAsOne(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be, func(t *testing.T) {
			dir, cfg := setup(t)
			one := filepath.Join(dir, "one")
			if err := Train(TrainOptions{Config: ConfigSource{Path: cfg}, OutDir: one, Backend: be, Threads: 1}, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			two := filepath.Join(dir, "two")
			out, err := mpitest.Run(t, mpirunTrain(t, 2, "ALEXNET_TEST_CONFIG="+cfg, "ALEXNET_TEST_OUT="+two, "ALEXNET_TEST_BACKEND="+be))
			if err != nil {
				t.Fatalf("mpirun: %v", err)
			}
			if !strings.Contains(out, "on 2 ranks (data parallel: "+be) || strings.Count(out, "epoch 2/2") != 1 || strings.Count(out, "done: 2 epochs") != 1 {
				t.Errorf("rank 0 alone should print, naming the ranks first")
			}
			tol := map[string]float64{"ref": 1e-6, "cpu": 1e-4}[be]
			d := largestDiff(t, filepath.Join(one, "last.ckpt"), filepath.Join(two, "last.ckpt"))
			t.Logf("%s: 2 ranks against 1 process after 14 steps: largest difference %.2e (tolerance %.0e)", be, d, tol)
			if d > tol {
				t.Errorf("2 ranks differ from 1 process by %.2e", d)
			}

			half := filepath.Join(dir, "half")
			if _, err := mpitest.Run(t, mpirunTrain(t, 2, "ALEXNET_TEST_CONFIG="+cfg, "ALEXNET_TEST_OUT="+half,
				"ALEXNET_TEST_BACKEND="+be, "ALEXNET_TEST_SETS=train.epochs=1")); err != nil {
				t.Fatalf("mpirun, one epoch: %v", err)
			}
			out, err = mpitest.Run(t, mpirunTrain(t, 2, "ALEXNET_TEST_RESUME="+filepath.Join(half, "last.ckpt"),
				"ALEXNET_TEST_BACKEND="+be, "ALEXNET_TEST_SETS=train.epochs=2"))
			if err != nil {
				t.Fatalf("mpirun, resumed: %v", err)
			}
			if d := largestDiff(t, filepath.Join(two, "last.ckpt"), filepath.Join(half, "last.ckpt")); d != 0 {
				t.Errorf("resumed with the same ranks: differs from the straight run by %.2e", d)
			}
		})
	}
}

// A rank killed mid-run ends the whole job with a non-zero exit in bounded time,
// and the checkpoint rank 0 last wrote stays loadable.
func TestDataParallelKilledRankEndsTheJob(t *testing.T) {
	out, pids := filepath.Join(t.TempDir(), "run"), t.TempDir()
	cmd, done, log := longJob(t, out, "ALEXNET_TEST_PIDS="+pids)
	pid, err := os.ReadFile(filepath.Join(pids, "rank1"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(string(pid))
	killed := time.Now()
	if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = waitJob(t, cmd, done, log, "rank 1 was killed")
	t.Logf("job ended %.1f s after the kill: %v\n%s", time.Since(killed).Seconds(), err, log.String())
	if err == nil {
		t.Error("the job exited 0 with a rank killed")
	}
	if !strings.Contains(log.String(), "rank 1") {
		t.Error("no line names the rank that died")
	}
	if _, err := checkpoint.Load(filepath.Join(out, "last.ckpt")); err != nil {
		t.Errorf("last.ckpt after the kill: %v", err)
	}
}

// SIGUSR1 to mpirun, which forwards it to every rank (where SIGINT makes it kill
// them a second later): the ranks stop together after a step, rank 0 writes
// last.ckpt, and the job exits 130.
func TestDataParallelSignalStopsAllRanks(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cmd, done, log := longJob(t, out)
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	err := waitJob(t, cmd, done, log, "SIGUSR1")
	t.Logf("%v\n%s", err, log.String())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitInterrupted {
		t.Fatalf("job ended with %v, want exit code %d", err, ExitInterrupted)
	}
	ck, err := checkpoint.Load(filepath.Join(out, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("interrupted after %d steps", ck.State.Step); strings.Count(log.String(), want) != 1 {
		t.Errorf("rank 0 should say %q once", want)
	}
}

// Ranks given different configs are refused before training, naming the rank.
func TestDataParallelRefusesDifferentConfigs(t *testing.T) {
	dir, cfg := setup(t)
	out, err := mpitest.Run(t, mpirunTrain(t, 2, "ALEXNET_TEST_CONFIG="+cfg, "ALEXNET_TEST_OUT="+filepath.Join(dir, "run"),
		"ALEXNET_TEST_BACKEND=ref", "ALEXNET_TEST_SET_RANK1=train.lr=0.5"))
	if err == nil || !strings.Contains(out, "rank 1 has another config than rank 0") {
		t.Errorf("mpirun: %v; want a refusal naming rank 1", err)
	}
	if strings.Contains(out, "epoch 1/") {
		t.Error("the ranks trained")
	}
}
