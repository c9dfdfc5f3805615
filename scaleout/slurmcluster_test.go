package scaleout

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slurmCluster is a single-node Slurm cluster on localhost (munged,
// slurmctld and slurmd as foreground children of the test), in a short
// temporary directory, on free ports (/work/shared/reference/slurm-local.md).
type slurmCluster struct {
	t       *testing.T
	base    string
	conf    string
	daemons []*daemon
}

type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

func (d *daemon) alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

var slurmTools = []string{"munged", "mungekey", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"}

// startSlurm starts the cluster and registers its shutdown with t.Cleanup;
// it skips the test, saying why, when Slurm or munge is missing or the
// test does not run as root.
func startSlurm(t *testing.T) *slurmCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the Slurm cluster test runs daemons as root: not root")
	}
	for _, tool := range slurmTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: install slurmctld slurmd slurm-client munge (.ci/run does)", tool)
		}
	}
	// Short: Unix socket paths under it must fit in 108 bytes.
	base, err := os.MkdirTemp("", "slurm")
	if err != nil {
		t.Fatal(err)
	}
	c := &slurmCluster{t: t, base: base, conf: filepath.Join(base, "etc", "slurm.conf")}
	t.Cleanup(c.stop)
	for _, d := range []string{"etc", "state", "spool", "log", "munge"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ports := freePorts(t, 2)
	if err := os.WriteFile(c.conf, []byte(slurmConf(base, ports[0], ports[1])), 0o644); err != nil {
		t.Fatal(err)
	}
	munge := filepath.Join(base, "munge")
	key := filepath.Join(munge, "munge.key")
	if out, err := exec.Command("mungekey", "--create", "--force", "--keyfile="+key).CombinedOutput(); err != nil {
		t.Fatalf("mungekey: %v\n%s", err, out)
	}
	os.Chmod(key, 0o600)
	sock := filepath.Join(munge, "munge.sock")
	c.start("munged", "munged", "-F", "--force", "--socket="+sock, "--key-file="+key,
		"--pid-file="+filepath.Join(munge, "munged.pid"), "--seed-file="+filepath.Join(munge, "munged.seed"),
		"--log-file="+filepath.Join(munge, "munged.log"))
	c.waitFor("munged's socket", 10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })
	c.start("slurmctld", "slurmctld", "-D", "-i", "-f", c.conf)
	c.start("slurmd", "slurmd", "-D", "-N", "localhost", "-f", c.conf)
	c.waitFor("the node to be idle", 60*time.Second, func() bool {
		out, _ := c.command(5*time.Second, "sinfo", "-h", "-n", "localhost", "-o", "%t")
		return strings.TrimSpace(out) == "idle"
	})
	return c
}

func freePorts(t *testing.T, n int) []int {
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// slurmConf is the tested configuration of slurm-local.md: no cgroups, no
// accounting, fast scheduling, 2 CPUs.
func slurmConf(base string, ctldPort, dPort int) string {
	p := func(s string) string { return filepath.Join(base, s) }
	return fmt.Sprintf(`ClusterName=fraglabtest
SlurmctldHost=localhost
SlurmctldPort=%d
SlurmdPort=%d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%s,cred_expire=5
StateSaveLocation=%s
SlurmdSpoolDir=%s
SlurmctldPidFile=%s
SlurmdPidFile=%s
SlurmctldLogFile=%s
SlurmdLogFile=%s
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=%s
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
KillWait=2
MinJobAge=300
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
`, ctldPort, dPort, p("munge/munge.sock"), p("state"), p("spool"), p("log/slurmctld.pid"), p("log/slurmd.pid"),
		p("log/slurmctld.log"), p("log/slurmd.log"), p("log/jobcomp.txt"))
}

// start runs a daemon in the foreground, in its own session, its output
// appended to log/NAME.out.
func (c *slurmCluster) start(name, bin string, args ...string) {
	c.t.Helper()
	out, err := os.OpenFile(filepath.Join(c.base, "log", name+".out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = c.env()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting %s: %v", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	c.daemons = append(c.daemons, d)
}

// env is this process's environment with SLURM_CONF pointing at the cluster.
func (c *slurmCluster) env() []string {
	return append(os.Environ(), "SLURM_CONF="+c.conf)
}

// command runs a Slurm client with a time limit (a client whose
// controller is gone retries for seconds) and returns its stdout.
func (c *slurmCluster) command(limit time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// waitFor polls ok every 100 ms until it holds, failing the test past
// limit or as soon as a daemon has died.
func (c *slurmCluster) waitFor(what string, limit time.Duration, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		for _, d := range c.daemons {
			if !d.alive() {
				c.t.Fatalf("waiting for %s: %s exited (%v)\n%s", what, d.name, d.cmd.ProcessState, c.logs())
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %s: not after %s\n%s", what, limit, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitJobsGone waits until none of the jobs is pending or running.
func (c *slurmCluster) waitJobsGone(limit time.Duration, jobs ...string) {
	c.t.Helper()
	c.waitFor("jobs "+strings.Join(jobs, ",")+" to end", limit, func() bool {
		out, err := c.command(5*time.Second, "squeue", "-h", "-j", strings.Join(jobs, ","), "-o", "%i")
		return err == nil && strings.TrimSpace(out) == ""
	})
}

// states returns "JOB_TASK STATE" (or "JOB STATE") of the jobs' tasks,
// finished ones included.
func (c *slurmCluster) states(jobs ...string) map[string]string {
	c.t.Helper()
	out, err := c.command(5*time.Second, "squeue", "-h", "-r", "-t", "all", "-j", strings.Join(jobs, ","), "-o", "%i %T")
	if err != nil {
		c.t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if id, st, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			m[id] = st
		}
	}
	return m
}

// logs is the tail of every daemon log, for failure messages.
func (c *slurmCluster) logs() string {
	var b strings.Builder
	names, _ := filepath.Glob(filepath.Join(c.base, "log", "*"))
	for _, n := range names {
		data, _ := os.ReadFile(n)
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", n, data)
	}
	return b.String()
}

// stop cancels every job, stops the daemons by PID (and reaps them), then
// kills any process of this cluster left over (a slurmstepd or job
// process, found by its open slurmd.log or its SLURM_CONF), and removes
// the directory.
func (c *slurmCluster) stop() {
	if c.alive("slurmctld") {
		if out, err := c.command(10*time.Second, "squeue", "-h", "-o", "%A"); err == nil {
			if ids := strings.Fields(out); len(ids) > 0 {
				_, _ = c.command(10*time.Second, "scancel", ids...)
				deadline := time.Now().Add(15 * time.Second)
				for time.Now().Before(deadline) {
					if out, err := c.command(5*time.Second, "squeue", "-h", "-o", "%A"); err != nil || strings.TrimSpace(out) == "" {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
		}
	}
	for _, d := range c.daemons {
		if d.alive() {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, d := range c.daemons {
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			c.t.Errorf("%s did not stop on SIGTERM: killed", d.name)
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	for _, pid := range c.leftovers() {
		c.t.Errorf("process %d of the cluster outlived its daemons: killed", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if c.t.Failed() {
		c.t.Logf("cluster logs:\n%s", c.logs())
	}
	os.RemoveAll(c.base)
}

func (c *slurmCluster) alive(name string) bool {
	for _, d := range c.daemons {
		if d.name == name {
			return d.alive()
		}
	}
	return false
}

// leftovers lists the processes holding this cluster's slurmd.log open
// (slurmstepd) or carrying its SLURM_CONF and a SLURM_JOB_ID (job
// processes).
func (c *slurmCluster) leftovers() []int {
	slurmdLog := filepath.Join(c.base, "log", "slurmd.log")
	confVar := []byte("SLURM_CONF=" + c.conf + "\x00")
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, _ := os.ReadFile(filepath.Join(p, "environ"))
		if bytes.Contains(env, confVar) && bytes.Contains(env, []byte("\x00SLURM_JOB_ID=")) {
			out = append(out, pid)
			continue
		}
		fds, _ := filepath.Glob(filepath.Join(p, "fd", "*"))
		for _, fd := range fds {
			if target, _ := os.Readlink(fd); target == slurmdLog {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}
