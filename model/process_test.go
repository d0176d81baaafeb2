package model

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/grlscaler/grlscaler/envs"
)

// TestResumeInAFreshProcessIsExact saves a checkpoint, continues training
// in a new process (this test binary re-run as a child), and compares the
// child's checkpoint with an uninterrupted run's, byte for byte: nothing
// that training depends on may live outside the checkpoint.
func TestResumeInAFreshProcessIsExact(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := Options{Policy: GAT, Head: JointHead, Hyper: smallHyper(), Seed: 21}
	first, err := NewTrainer(twinEnv(t, "onlineboutique", "fluctuating", envs.GoalSLO), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Train(ctx, 100, nil); err != nil {
		t.Fatal(err)
	}
	var ckpt bytes.Buffer
	if err := first.Save(&ckpt); err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "in.ckpt"), filepath.Join(dir, "out.ckpt")
	if err := os.WriteFile(in, ckpt.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeInAFreshProcessIsExact$")
	cmd.Env = append(os.Environ(), "GRL_RESUME_CHILD="+in+"|"+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	child, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	straight, err := NewTrainer(twinEnv(t, "onlineboutique", "fluctuating", envs.GoalSLO), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := straight.Train(ctx, 200, nil); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := straight.Save(&want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(child, want.Bytes()) {
		t.Error("the checkpoint continued in a fresh process differs from the uninterrupted run's")
	}
}

// resumeChild loads the checkpoint named in GRL_RESUME_CHILD, trains 100
// steps and writes the result.
func resumeChild(spec string) error {
	in, out, _ := bytes.Cut([]byte(spec), []byte("|"))
	f, err := os.Open(string(in))
	if err != nil {
		return err
	}
	defer f.Close()
	env := twinEnv(nopTB{}, "onlineboutique", "fluctuating", envs.GoalSLO)
	tr, err := Load(f, env)
	if err != nil {
		return err
	}
	if _, err := tr.Train(context.Background(), 100, nil); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tr.Save(&buf); err != nil {
		return err
	}
	return os.WriteFile(string(out), buf.Bytes(), 0o600)
}

func TestMain(m *testing.M) {
	if spec := os.Getenv("GRL_RESUME_CHILD"); spec != "" {
		if err := resumeChild(spec); err != nil {
			os.Stderr.WriteString("resume child: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nopTB satisfies testing.TB for helpers used outside a test, panicking
// on failure.
type nopTB struct{ testing.TB }

func (nopTB) Helper()                   {}
func (nopTB) Fatal(args ...any)         { panic(args) }
func (nopTB) Fatalf(f string, a ...any) { panic(f) }
