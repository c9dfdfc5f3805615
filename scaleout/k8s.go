package scaleout

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// GPUResource is the extended resource NVIDIA's device plugin offers.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// Kubernetes configures KubernetesJobs. Paths are inside the containers,
// relative to MountPath (their working directory) unless absolute.
type Kubernetes struct {
	Name       string // the experiment's name, for the default JobName
	JobName    string // the shard Job's name (default "fraglab-" + Name); the merge Job adds "-merge"
	Namespace  string // empty: kubectl's current namespace
	Image      string // an image with the fraglab binary
	Fraglab    string // the binary's path in the image (default "fraglab", from PATH)
	Experiment string // the experiment file
	Out        string // the results directory, on the shared volume
	Shards     int    // completions: one pod index per shard, ≥ 1
	// Parallelism is how many shard pods run at once (default Shards).
	Parallelism int
	// CPUs is each shard pod's CPU request and its runs at once (default 1).
	CPUs int
	// GPUs is each shard pod's nvidia.com/gpu request and limit; 0 asks
	// for none.
	GPUs int
	// Claim is the PersistentVolumeClaim (ReadWriteMany) every pod mounts at
	// MountPath: the experiment, its traces and the results live there.
	Claim     string
	MountPath string // default "/fraglab"
	// RetriesPerShard is the Job's backoffLimitPerIndex: how often a failed
	// shard pod is retried (default 2; each retry resumes).
	RetriesPerShard int
}

const (
	volumeName       = "results"
	defaultMountPath = "/fraglab"
	// completionIndexAnnotation is where the Job controller puts a pod's index.
	completionIndexAnnotation = "batch.kubernetes.io/job-completion-index"
)

func (o *Kubernetes) defaults() error {
	if o.Shards < 1 {
		return fmt.Errorf("--shards must be ≥ 1, got %d", o.Shards)
	}
	if o.Parallelism == 0 {
		o.Parallelism = o.Shards
	}
	if o.CPUs == 0 {
		o.CPUs = 1
	}
	if o.RetriesPerShard == 0 {
		o.RetriesPerShard = 2
	}
	if o.Parallelism < 0 || o.CPUs < 0 || o.GPUs < 0 || o.RetriesPerShard < 0 {
		return errors.New("parallelism, CPUs, GPUs and retries must not be negative")
	}
	if o.Fraglab == "" {
		o.Fraglab = "fraglab"
	}
	if o.MountPath == "" {
		o.MountPath = defaultMountPath
	}
	if o.JobName == "" {
		n := jobName(o.Name)
		if n == "" {
			n = "sweep"
		}
		// Room for "-merge" and for pod names (job-index-suffix) in 63 characters.
		o.JobName = strings.TrimRight(("fraglab-" + n)[:min(len("fraglab-"+n), 40)], "-")
	}
	if errs := validation.IsDNS1123Label(o.JobName + "-merge"); len(errs) > 0 {
		return fmt.Errorf("job name %q: %s", o.JobName, strings.Join(errs, "; "))
	}
	if o.Claim == "" {
		return errors.New("a PersistentVolumeClaim for the results is needed (--pvc)")
	}
	if errs := validation.IsDNS1123Subdomain(o.Claim); len(errs) > 0 {
		return fmt.Errorf("--pvc %q: %s", o.Claim, strings.Join(errs, "; "))
	}
	if o.Namespace != "" {
		if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
			return fmt.Errorf("--namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
		}
	}
	if o.Image == "" {
		return errors.New("an image is needed (--image)")
	}
	for _, p := range []struct{ what, v string }{{"experiment", o.Experiment}, {"output directory", o.Out}, {"mount path", o.MountPath}} {
		if p.v == "" {
			return fmt.Errorf("%s: empty path", p.what)
		}
	}
	if !strings.HasPrefix(o.MountPath, "/") {
		return fmt.Errorf("mount path %q must be absolute", o.MountPath)
	}
	return nil
}

// KubernetesJobs returns the sweep's two Jobs. The first is an Indexed Job
// with one completion index per shard: its pods run
// "fraglab run EXP --shard k8s/N" (the index comes from
// JOB_COMPLETION_INDEX). The second merges; it is created suspended, to be
// resumed once the first has ended (kubectl patch ... suspend=false): a Job
// cannot wait for another, and an init container polling for the shards
// would hold a pod (and its node) for the whole sweep.
func KubernetesJobs(o Kubernetes) (shards, merge *batchv1.Job, err error) {
	if err := o.defaults(); err != nil {
		return nil, nil, err
	}
	labels := map[string]string{"app.kubernetes.io/name": "fraglab", "app.kubernetes.io/instance": o.JobName}
	volumes := []corev1.Volume{{
		Name: volumeName,
		VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: o.Claim,
		}},
	}}
	mounts := []corev1.VolumeMount{{Name: volumeName, MountPath: o.MountPath}}
	container := func(name string, args []string, res corev1.ResourceRequirements, env []corev1.EnvVar) corev1.Container {
		return corev1.Container{
			Name: name, Image: o.Image, Command: []string{o.Fraglab}, Args: args,
			WorkingDir: o.MountPath, VolumeMounts: mounts, Resources: res, Env: env,
		}
	}
	job := func(name string, completions, parallelism int32, c corev1.Container) *batchv1.Job {
		return &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels},
			Spec: batchv1.JobSpec{
				Completions: &completions, Parallelism: &parallelism,
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{c},
						Volumes:       volumes,
					},
				},
			},
		}
	}

	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(o.CPUs), resource.DecimalSI)},
	}
	if o.GPUs > 0 {
		g := *resource.NewQuantity(int64(o.GPUs), resource.DecimalSI)
		res.Requests[GPUResource] = g
		res.Limits = corev1.ResourceList{GPUResource: g}
	}
	// The Job controller sets JOB_COMPLETION_INDEX itself; it is spelled
	// out here so that the manifest says where the shard index comes from.
	env := []corev1.EnvVar{{
		Name: "JOB_COMPLETION_INDEX",
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: fmt.Sprintf("metadata.annotations['%s']", completionIndexAnnotation),
		}},
	}}
	shards = job(o.JobName, int32(o.Shards), int32(o.Parallelism), container("shard",
		[]string{"run", o.Experiment, "--out", o.Out, "--shard", fmt.Sprintf("k8s/%d", o.Shards), "--parallel", fmt.Sprint(o.CPUs)},
		res, env))
	indexed := batchv1.IndexedCompletion
	retries := int32(o.RetriesPerShard)
	shards.Spec.CompletionMode = &indexed
	shards.Spec.BackoffLimitPerIndex = &retries

	merge = job(o.JobName+"-merge", 1, 1, container("merge",
		[]string{"merge", "--experiment", o.Experiment, "--shards", fmt.Sprint(o.Shards), o.Out},
		corev1.ResourceRequirements{}, nil))
	suspend := true
	backoff := int32(0)
	merge.Spec.Suspend = &suspend
	merge.Spec.BackoffLimit = &backoff
	return shards, merge, nil
}

// KubernetesYAML returns the two Jobs of KubernetesJobs as one YAML
// stream (documents separated by "---"), for kubectl apply -f.
func KubernetesYAML(o Kubernetes) ([]byte, error) {
	shards, merge, err := KubernetesJobs(o)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# fraglab sweep %s: %d shards, then a merge.\n", o.Name, o.Shards)
	fmt.Fprintf(&b, "# kubectl apply -f THIS_FILE; kubectl wait --for=condition=Complete --timeout=24h job/%s;\n", shards.Name)
	fmt.Fprintf(&b, "# kubectl patch job %s --type=merge -p '{\"spec\":{\"suspend\":false}}'   (docs/scale-out.md)\n", merge.Name)
	for i, j := range []*batchv1.Job{shards, merge} {
		y, err := yaml.Marshal(j)
		if err != nil {
			return nil, fmt.Errorf("encoding job %s: %w", j.Name, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}
