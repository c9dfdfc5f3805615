package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fraglab/fraglab/experiment"
	"github.com/fraglab/fraglab/internal/atomicfile"
	"github.com/fraglab/fraglab/scaleout"
)

func init() { addCommands(slurmCmd, k8sCmd) }

// writeOrPrint writes b to file (atomically, mode perm) or, when file is
// empty, to the command's stdout.
func writeOrPrint(cmd *cobra.Command, file string, b []byte, perm os.FileMode) error {
	if file == "" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	if err := atomicfile.Write(file, b); err != nil {
		return err
	}
	return os.Chmod(file, perm)
}

func slurmCmd() *cobra.Command {
	var (
		o       scaleout.Slurm
		out     string
		file    string
		submit  bool
		fraglab string
	)
	cmd := &cobra.Command{
		Use:   "slurm EXPERIMENT.yaml --shards N",
		Short: "Write the sbatch script of a sharded sweep: a job array of shards and a dependent merge job",
		Long: `Print (or write, -o FILE) a bash script that submits the experiment to Slurm as
a job array of --shards tasks, task I running "fraglab run EXP --shard slurm/N"
(I = SLURM_ARRAY_TASK_ID), and a merge job (--dependency=afterany on the
array) running "fraglab merge". The records, the shards' manifests, the
reports and the job logs (OUT/slurm/) go to the results directory, which
every node must see at the same path (a shared file system).

"bash FILE 1,3" resubmits shards 1 and 3 with --resume-missing, and a new
merge job. --submit runs the script (sbatch must be on PATH) and prints the
job IDs. Paths in the script are absolute; --fraglab is the binary the
nodes run (default: this one).`,
		Example: `  fraglab slurm exp.yaml --shards 16 --partition gpu --gpus-per-task 1 --time 2:00:00 -o sweep.sh
  bash sweep.sh
  fraglab slurm exp.yaml --shards 4 --out /shared/results --submit`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := experiment.Load(args[0])
			if err != nil {
				return err
			}
			if o.Experiment, err = filepath.Abs(args[0]); err != nil {
				return err
			}
			if out == "" {
				out = e.Output
			}
			if out == "" {
				return fmt.Errorf("no output directory: the experiment has none and --out was not given")
			}
			if o.Out, err = filepath.Abs(out); err != nil {
				return err
			}
			if fraglab == "" {
				if fraglab, err = os.Executable(); err != nil {
					return fmt.Errorf("finding this binary (give --fraglab): %w", err)
				}
			}
			if o.Fraglab, err = filepath.Abs(fraglab); err != nil {
				return err
			}
			if strings.Contains(o.Fraglab, string(filepath.Separator)+"go-build") {
				fmt.Fprintf(cmd.ErrOrStderr(), "fraglab slurm: warning: %s is a temporary binary of go run; build one (go build -o DIR/fraglab ./cmd/fraglab) and give --fraglab\n", o.Fraglab)
			}
			o.Name = e.Name
			script, err := scaleout.SlurmScript(o)
			if err != nil {
				return err
			}
			if !submit {
				return writeOrPrint(cmd, file, []byte(script), 0o755)
			}
			if file != "" {
				if err := writeOrPrint(cmd, file, []byte(script), 0o755); err != nil {
					return err
				}
			}
			var stderr bytes.Buffer
			c := exec.CommandContext(ctxOf(cmd), "bash", "-c", script, "fraglab-slurm")
			c.Stdout, c.Stderr = cmd.OutOrStdout(), &stderr
			if err := c.Run(); err != nil {
				return fmt.Errorf("submitting: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Shards, "shards", 0, "how many shards (array tasks)")
	f.IntVar(&o.GPUsPerTask, "gpus-per-task", 0, "GPUs per shard (sbatch --gpus-per-task); 0 asks for none")
	f.IntVar(&o.CPUsPerTask, "cpus-per-task", 1, "CPUs per shard, and its runs at once (--parallel)")
	atLeast(f, "1", "cpus-per-task")
	f.StringVar(&o.Partition, "partition", "", "Slurm partition (default: the cluster's default)")
	f.StringVar(&o.Time, "time", "", `time limit of each job, e.g. "2:00:00" (default: the partition's)`)
	f.StringVar(&out, "out", "", "the shared results directory (default: the experiment's output)")
	f.StringVar(&fraglab, "fraglab", "", "the fraglab binary the nodes run (default: this one)")
	f.StringVarP(&file, "output", "o", "", "write the script to FILE (default: print it)")
	f.BoolVar(&submit, "submit", false, "run the script now: submit the jobs and print their IDs")
	_ = cmd.MarkFlagRequired("shards")
	return cmd
}

func k8sCmd() *cobra.Command {
	var (
		o    scaleout.Kubernetes
		file string
		gpu  bool
	)
	cmd := &cobra.Command{
		Use:   "k8s EXPERIMENT.yaml --shards N [--pvc CLAIM]",
		Short: "Write the Kubernetes manifests of a sharded sweep: an Indexed Job of shards and a suspended merge Job",
		Long: `Write (or print) two Kubernetes Jobs as one YAML stream. The first is an
Indexed Job with --shards completions: the pod of index I runs
"fraglab run EXP --shard k8s/N" (I = JOB_COMPLETION_INDEX). The second runs
"fraglab merge"; it is created suspended, to be resumed when the first has
ended (a Job cannot depend on another; docs/scale-out.md).

Every pod mounts the PersistentVolumeClaim --pvc (ReadWriteMany) at
--mount-path and works there: EXPERIMENT.yaml, the traces it names and
--out are paths on that volume, relative to it as given here.`,
		Example: `  fraglab k8s experiments/quickstart.yaml --shards 8 --image registry.example/fraglab:v1 --pvc fraglab-results --gpu -o sweep.yaml
  kubectl apply -f sweep.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := experiment.Load(args[0])
			if err != nil {
				return err
			}
			o.Name, o.Experiment = e.Name, args[0]
			if o.Out == "" {
				if e.Output == "" || filepath.IsAbs(e.Output) {
					return fmt.Errorf("give --out: the results directory on the volume (the experiment's output %q is not a path relative to it)", e.Output)
				}
				o.Out = e.Output
			}
			if gpu && o.GPUs == 0 {
				o.GPUs = 1
			}
			b, err := scaleout.KubernetesYAML(o)
			if err != nil {
				return err
			}
			return writeOrPrint(cmd, file, b, 0o644)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Shards, "shards", 0, "how many shards (completion indexes)")
	f.IntVar(&o.Parallelism, "parallelism", 0, "shard pods at once (default: all)")
	f.StringVar(&o.Image, "image", "fraglab:latest", "container image with the fraglab binary")
	f.StringVar(&o.Fraglab, "fraglab", "fraglab", "the fraglab binary in the image")
	f.BoolVar(&gpu, "gpu", false, "request one nvidia.com/gpu per shard pod")
	f.IntVar(&o.GPUs, "gpus", 0, "request this many nvidia.com/gpu per shard pod")
	f.IntVar(&o.CPUs, "cpus", 1, "CPU request of each shard pod, and its runs at once (--parallel)")
	atLeast(f, "1", "cpus")
	f.StringVar(&o.Claim, "pvc", "fraglab-results", "PersistentVolumeClaim (ReadWriteMany) holding the experiment and the results")
	f.StringVar(&o.MountPath, "mount-path", "/fraglab", "where the volume is mounted (the pods' working directory)")
	f.StringVar(&o.Out, "out", "", "results directory on the volume (default: the experiment's output)")
	f.StringVar(&o.JobName, "name", "", `the shard Job's name (default "fraglab-" + the experiment's name)`)
	f.StringVar(&o.Namespace, "namespace", "", "namespace of the Jobs (default: kubectl's)")
	f.IntVar(&o.RetriesPerShard, "retries", 2, "retries of a failed shard pod (backoffLimitPerIndex); each resumes")
	f.StringVarP(&file, "output", "o", "", "write the manifests to FILE (default: print them)")
	_ = cmd.MarkFlagRequired("shards")
	return cmd
}
