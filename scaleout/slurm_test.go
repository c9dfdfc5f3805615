package scaleout

import (
	"os/exec"
	"strings"
	"testing"
)

func TestSlurmScript(t *testing.T) {
	o := Slurm{Fraglab: "/opt/fraglab", Experiment: "/lab/it's.yaml", Name: "My Exp", Out: "/shared/out", Shards: 4,
		GPUsPerTask: 1, CPUsPerTask: 2, Partition: "gpu", Time: "2:00:00"}
	s, err := SlurmScript(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`shards=${1:-0-3}`,
		`sbatch --parsable --array="$shards" --job-name=fraglab-my-exp --ntasks=1 --cpus-per-task=2 --partition=gpu --time=2:00:00 --gpus-per-task=1`,
		`exec '/opt/fraglab' run '/lab/it'\''s.yaml' --out '/shared/out' --shard slurm/4 --parallel 2 $resume`,
		`sbatch --parsable --dependency=afterany:"$array" --job-name=fraglab-my-exp-merge --ntasks=1 --partition=gpu --time=2:00:00`,
		`exec '/opt/fraglab' merge --experiment '/lab/it'\''s.yaml' --shards 4 '/shared/out'`,
		`mkdir -p '/shared/out/slurm'`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %s\n%s", want, s)
		}
	}
	if strings.Count(s, "--gpus-per-task") != 1 {
		t.Errorf("the merge job must not ask for GPUs:\n%s", s)
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bash, "-n", "-c", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, out)
		}
	}
	o.GPUsPerTask = 0
	if s, _ := SlurmScript(o); strings.Contains(s, "gpus") {
		t.Errorf("GPUs asked for with --gpus-per-task 0:\n%s", s)
	}
}

func TestSlurmScriptErrors(t *testing.T) {
	ok := Slurm{Fraglab: "/f", Experiment: "/e.yaml", Out: "/o", Shards: 2}
	for _, c := range []struct {
		edit func(*Slurm)
		err  string
	}{
		{func(o *Slurm) { o.Shards = 0 }, "--shards must be ≥ 1"},
		{func(o *Slurm) { o.Out = "/a/$HOME" }, `output directory "/a/$HOME": paths with $`},
		{func(o *Slurm) { o.Experiment = "" }, "experiment: empty path"},
		{func(o *Slurm) { o.Partition = "gpu;rm" }, `--partition "gpu;rm"`},
		{func(o *Slurm) { o.Time = "1h" }, `--time "1h"`},
		{func(o *Slurm) { o.GPUsPerTask = -1 }, "must not be negative"},
	} {
		o := ok
		c.edit(&o)
		if _, err := SlurmScript(o); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: %v, want %q", o, err, c.err)
		}
	}
}
