package scaleout

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// decodeJobs splits a YAML stream and decodes each document, strictly,
// into the Kubernetes API's Job type.
func decodeJobs(t *testing.T, b []byte) []batchv1.Job {
	t.Helper()
	var jobs []batchv1.Job
	for _, doc := range bytes.Split(b, []byte("\n---\n")) {
		var j batchv1.Job
		if err := yaml.UnmarshalStrict(doc, &j); err != nil {
			t.Fatalf("not a Job: %v\n%s", err, doc)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func envValue(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func TestKubernetesYAMLDecodes(t *testing.T) {
	for _, c := range []struct {
		name                     string
		o                        Kubernetes
		wantParallelism, wantGPU int64
		wantJob                  string
	}{
		{"defaults", Kubernetes{Name: "Quick Start", Image: "reg/fraglab:v1", Experiment: "experiments/q.yaml", Out: "results/q", Shards: 8, Claim: "lab-results"},
			8, 0, "fraglab-quick-start"},
		{"gpu and parallelism", Kubernetes{Name: "big", JobName: "sweep-1", Namespace: "ml", Image: "img", Experiment: "e.yaml", Out: "out", Shards: 3,
			Parallelism: 2, GPUs: 1, CPUs: 4, Claim: "c", MountPath: "/data", RetriesPerShard: 5}, 2, 1, "sweep-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := KubernetesYAML(c.o)
			if err != nil {
				t.Fatal(err)
			}
			jobs := decodeJobs(t, b)
			if len(jobs) != 2 {
				t.Fatalf("%d documents, want the shard Job and the merge Job", len(jobs))
			}
			sh, mg := jobs[0], jobs[1]
			if sh.APIVersion != "batch/v1" || sh.Kind != "Job" || sh.Name != c.wantJob || mg.Name != c.wantJob+"-merge" || sh.Namespace != c.o.Namespace {
				t.Errorf("type/names: %s %s %s/%s, merge %s", sh.APIVersion, sh.Kind, sh.Namespace, sh.Name, mg.Name)
			}
			s := sh.Spec
			if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
				t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
			}
			if s.Completions == nil || int(*s.Completions) != c.o.Shards || s.Parallelism == nil || int64(*s.Parallelism) != c.wantParallelism {
				t.Errorf("completions %v parallelism %v", s.Completions, s.Parallelism)
			}
			if s.BackoffLimitPerIndex == nil || s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("backoffLimitPerIndex %v needs restartPolicy Never, got %q", s.BackoffLimitPerIndex, s.Template.Spec.RestartPolicy)
			}
			ctr := s.Template.Spec.Containers[0]
			mount := c.o.MountPath
			if mount == "" {
				mount = "/fraglab"
			}
			wantArgs := []string{"run", c.o.Experiment, "--out", c.o.Out, "--shard", "k8s/" + strconv.Itoa(c.o.Shards)}
			if !slices.Equal(ctr.Args[:len(wantArgs)], wantArgs) || ctr.Image != c.o.Image || ctr.WorkingDir != mount {
				t.Errorf("shard container: image %s, dir %s, args %q", ctr.Image, ctr.WorkingDir, ctr.Args)
			}
			ev := envValue(ctr, "JOB_COMPLETION_INDEX")
			if ev == nil || ev.ValueFrom == nil || ev.ValueFrom.FieldRef == nil ||
				ev.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
				t.Errorf("JOB_COMPLETION_INDEX env: %+v", ev)
			}
			gpu := ctr.Resources.Limits[GPUResource]
			if gpu.Value() != c.wantGPU {
				t.Errorf("nvidia.com/gpu limit %s, want %d", gpu.String(), c.wantGPU)
			}
			if _, asked := ctr.Resources.Requests[GPUResource]; asked != (c.wantGPU > 0) {
				t.Errorf("nvidia.com/gpu request present %v, want %v", asked, c.wantGPU > 0)
			}
			for _, j := range jobs {
				v := j.Spec.Template.Spec.Volumes
				m := j.Spec.Template.Spec.Containers[0].VolumeMounts
				if len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != c.o.Claim ||
					len(m) != 1 || m[0].Name != v[0].Name || m[0].MountPath != mount {
					t.Errorf("job %s: volumes %+v mounts %+v", j.Name, v, m)
				}
			}
			if mg.Spec.Suspend == nil || !*mg.Spec.Suspend || mg.Spec.CompletionMode != nil {
				t.Errorf("merge job: suspend %v, completionMode %v", mg.Spec.Suspend, mg.Spec.CompletionMode)
			}
			margs := mg.Spec.Template.Spec.Containers[0].Args
			if !slices.Equal(margs, []string{"merge", "--experiment", c.o.Experiment, "--shards", strconv.Itoa(c.o.Shards), c.o.Out}) {
				t.Errorf("merge args %q", margs)
			}
		})
	}
}

func TestKubernetesErrors(t *testing.T) {
	ok := Kubernetes{Name: "x", Image: "i", Experiment: "e.yaml", Out: "o", Shards: 2, Claim: "c"}
	for _, c := range []struct {
		edit func(*Kubernetes)
		err  string
	}{
		{func(o *Kubernetes) { o.Shards = 0 }, "--shards must be ≥ 1"},
		{func(o *Kubernetes) { o.Claim = "" }, "--pvc"},
		{func(o *Kubernetes) { o.Claim = "Bad_Claim" }, `--pvc "Bad_Claim"`},
		{func(o *Kubernetes) { o.JobName = "UPPER" }, `job name "UPPER"`},
		{func(o *Kubernetes) { o.Namespace = "a.b" }, `--namespace "a.b"`},
		{func(o *Kubernetes) { o.Image = "" }, "--image"},
		{func(o *Kubernetes) { o.MountPath = "rel" }, "must be absolute"},
		{func(o *Kubernetes) { o.GPUs = -1 }, "must not be negative"},
	} {
		o := ok
		c.edit(&o)
		if _, err := KubernetesYAML(o); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: %v, want %q", o, err, c.err)
		}
	}
	if _, err := KubernetesYAML(ok); err != nil {
		t.Errorf("valid options: %v", err)
	}
}
