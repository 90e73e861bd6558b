#!/usr/bin/env python3
"""The container image (deploy/container/Containerfile), built with podman and
run the way the Helm chart's DaemonSet runs it.

The security context, host paths, hostPID and arguments are read from
deploy/kubernetes/daemonset.yaml (the chart rendered with its default values;
helm_manifests keeps it fresh) and translated to podman flags, so the test
cannot drift from the chart: a securityContext key it does not know fails it.
The capability list is cross-checked against the chart's values.yaml.

Checks: the image builds on a local Debian 12 base (made with
scripts/debian-rootfs and `podman import` when absent, nothing pulled); the
running container has no shell; /readyz answers 200; ksight_probe_up is 1 for
every default probe (deploy/ksight.yaml); execs of a uniquely named program on
the host show up in ksight_process_execs_total. Prints the capability sets of
the agent in the container (/proc/<pid>/status).

So that the test does not compile ksight a second time, the Containerfile's
`binary` stage is replaced with the binary already built
(--build-context binary=DIR); users' builds compile in the build stage.

  image_test.py --ksight BIN --source DIR [--keep] [--ablate]
--ablate also runs the container once per capability of the chart's list
with that one left out, and reports which probes then fail to attach.
Exit 0 pass, 1 fail, 77 skip (not root, no podman or debootstrap); under
KSIGHT_REQUIRE_BPF=1 a skip is a failure.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from ksight_testlib import SKIP, free_port, http_get, log, skip_or_fail  # noqa: E402

BASE = "localhost/ksight-debian:bookworm"
PODMAN = ["podman", "--cgroup-manager=cgroupfs", "--runtime", "runc"]
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
CAP_NAMES = {
    0: "CHOWN", 1: "DAC_OVERRIDE", 2: "DAC_READ_SEARCH", 3: "FOWNER", 4: "FSETID",
    5: "KILL", 6: "SETGID", 7: "SETUID", 8: "SETPCAP", 9: "LINUX_IMMUTABLE",
    10: "NET_BIND_SERVICE", 11: "NET_BROADCAST", 12: "NET_ADMIN", 13: "NET_RAW",
    14: "IPC_LOCK", 15: "IPC_OWNER", 16: "SYS_MODULE", 17: "SYS_RAWIO",
    18: "SYS_CHROOT", 19: "SYS_PTRACE", 20: "SYS_PACCT", 21: "SYS_ADMIN",
    22: "SYS_BOOT", 23: "SYS_NICE", 24: "SYS_RESOURCE", 25: "SYS_TIME",
    26: "SYS_TTY_CONFIG", 27: "MKNOD", 28: "LEASE", 29: "AUDIT_WRITE",
    30: "AUDIT_CONTROL", 31: "SETFCAP", 32: "MAC_OVERRIDE", 33: "MAC_ADMIN",
    34: "SYSLOG", 35: "WAKE_ALARM", 36: "BLOCK_SUSPEND", 37: "AUDIT_READ",
    38: "PERFMON", 39: "BPF", 40: "CHECKPOINT_RESTORE",
}

cleanups = []


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)


def podman(*args, check=True, timeout=600):
    r = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        fail(f"podman {' '.join(args[:3])}...: exit {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return r


def samples(text, name):
    """[(labels dict, value)] of one metric in Prometheus text format."""
    out = []
    for line in text.splitlines():
        m = re.match(re.escape(name) + r"(?:\{([^}]*)\})?\s+(\S+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
            out.append((labels, float(m.group(2))))
    return out


def value(text, name, **want):
    """The sum of the samples of NAME whose labels include WANT (None: none)."""
    vals = [v for labels, v in samples(text, name) if all(labels.get(k) == w for k, w in want.items())]
    return sum(vals) if vals else None


def caps_of(mask):
    return sorted(CAP_NAMES.get(i, str(i)) for i in range(64) if mask >> i & 1)


def daemonset_spec(yaml, source):
    """The ksight container and pod spec of the rendered DaemonSet."""
    with open(os.path.join(source, "deploy/kubernetes/daemonset.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    ds = [d for d in docs if d.get("kind") == "DaemonSet"]
    if len(ds) != 1:
        fail("deploy/kubernetes/daemonset.yaml: expected one DaemonSet")
    pod = ds[0]["spec"]["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == "ksight"]
    if len(containers) != 1:
        fail("the DaemonSet has no container named ksight")
    return pod, containers[0]


def podman_flags(pod, container, values_caps):
    """The DaemonSet's security context, host paths and PID namespace as
    podman run flags, and the capabilities it adds."""
    flags = []
    sc = dict(container.get("securityContext", {}))
    caps = sc.pop("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        fail(f"the chart does not drop ALL capabilities: {caps.get('drop')}")
    added = list(caps.get("add", []))
    if added != list(values_caps):
        fail(f"rendered capabilities {added} differ from values.yaml {values_caps}: run scripts/render-manifests")
    flags.append("--cap-drop=all")
    flags += [f"--cap-add={c}" for c in added]
    for key, val in sc.items():
        if key == "privileged" and val is False:
            continue
        if key == "allowPrivilegeEscalation" and val is False:
            flags += ["--security-opt", "no-new-privileges"]
        elif key == "readOnlyRootFilesystem" and val is True:
            flags.append("--read-only")
        elif key == "runAsUser":
            flags += ["--user", str(val)]
        elif key == "seccompProfile" and val == {"type": "RuntimeDefault"}:
            pass  # podman's default seccomp profile, as containerd's and CRI-O's
        else:
            fail(f"securityContext.{key}: {val!r} has no podman translation in this test")
    if pod.get("hostPID"):
        flags.append("--pid=host")
    if pod.get("hostNetwork"):
        fail("hostNetwork: this test publishes the port instead; teach it host networking")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        v = volumes[m["name"]]
        if "hostPath" not in v:
            continue  # ConfigMaps: none with the default values
        mode = "ro" if m.get("readOnly") else "rw"
        flags += ["-v", f"{v['hostPath']['path']}:{m['mountPath']}:{mode}"]
    mem = container.get("resources", {}).get("limits", {}).get("memory", "")
    if mem.endswith("Mi"):
        flags.append(f"--memory={mem[:-2]}m")
    return flags, added


def ensure_base(source):
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return
    t = time.time()
    r = subprocess.run([os.path.join(source, "scripts/debian-rootfs"), "tar"],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        fail("scripts/debian-rootfs tar: " + r.stderr[-2000:])
    podman("import", "--change", 'CMD ["/bin/bash"]', r.stdout.strip(), BASE)
    log(f"made the base image {BASE} from {r.stdout.strip()} in {time.time() - t:.0f} s")


def build_image(source, ksight, tag):
    bindir = tempfile.mkdtemp(prefix="ksight-image-bin.")
    cleanups.append(lambda: shutil.rmtree(bindir, ignore_errors=True))
    # Debug info stays out of the image, as in the Containerfile's build stage.
    subprocess.run(["objcopy", "--strip-debug", ksight, os.path.join(bindir, "ksight")], check=True)
    t = time.time()
    # --layers=false: no intermediate images left behind by the test.
    podman("build", "--layers=false", *ULIMITS, "--build-context", f"binary={bindir}",
           "--build-arg", f"BASE={BASE}", "-f", os.path.join(source, "deploy/container/Containerfile"),
           "-t", tag, source, timeout=900)
    cleanups.append(lambda: podman("rmi", "-f", tag, check=False))
    size = podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()
    log(f"ok: built {tag} in {time.time() - t:.0f} s ({int(size) / 1e6:.0f} MB)")


def start(tag, name, flags, args, port, extra_env):
    env = []
    for k, v in extra_env.items():
        env += ["-e", f"{k}={v}"]
    podman("run", "-d", "--name", name, *ULIMITS, *flags, *env,
           "-p", f"127.0.0.1:{port}:9437", tag, *args)
    cleanups.append(lambda: podman("rm", "-f", "-t", "2", name, check=False))


def wait_ready(name, port, seconds):
    deadline = time.time() + seconds
    status, body = None, ""
    while time.time() < deadline:
        status, body = http_get(f"http://127.0.0.1:{port}/readyz")
        if status == 200:
            return True, body
        running = podman("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip()
        if running != "true":
            return False, "the container exited"
        time.sleep(0.5)
    return False, f"{status} {body}"


def run_checks(args, yaml):
    source = args.source
    with open(os.path.join(source, "deploy/helm/ksight/values.yaml")) as f:
        values_caps = yaml.safe_load(f)["capabilities"]
    with open(os.path.join(source, "deploy/ksight.yaml")) as f:
        default_probes = yaml.safe_load(f)["probes"]
    pod, container = daemonset_spec(yaml, source)
    flags, added = podman_flags(pod, container, values_caps)
    cargs = [a for a in container.get("args", [])]
    if "--probes" in cargs:  # values.probes set: those instead of the agent's default
        default_probes = cargs[cargs.index("--probes") + 1].split(",")
    if container.get("ports", [{}])[0].get("containerPort") != 9437 or "0.0.0.0:9437" not in cargs:
        fail(f"the chart's container does not listen on 0.0.0.0:9437: {cargs}")
    log("podman flags from the DaemonSet: " + " ".join(flags))

    ensure_base(source)
    run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tag = f"localhost/ksight-image-test:{run_id}"
    build_image(source, args.ksight, tag)

    node = socket.gethostname()
    env = {"NODE_NAME": node, "OTEL_RESOURCE_ATTRIBUTES": f"k8s.node.name={node}"}
    name = f"ksight-image-test-{run_id}"
    port = free_port()
    t = time.time()
    start(tag, name, flags, cargs, port, env)
    ready, body = wait_ready(name, port, 60)
    if not ready:
        logs = podman("logs", name, check=False)
        fail(f"/readyz not 200 within 60 s ({body}):\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
    log(f"ok: /readyz 200 after {time.time() - t:.1f} s: {body.strip()}")

    _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
    for p in default_probes:
        v = value(metrics, "ksight_probe_up", probe=p)
        if v != 1:
            fail(f"ksight_probe_up{{probe=\"{p}\"}} is {v}, not 1: {samples(metrics, 'ksight_probe_up')}")
    log(f"ok: ksight_probe_up 1 for every default probe: {', '.join(default_probes)}")

    # No shell in the image: exec of /bin/sh must fail.
    r = podman("exec", name, "/bin/sh", "-c", "true", check=False)
    if r.returncode == 0:
        fail("the image has a working /bin/sh")
    log("ok: no /bin/sh in the running container")

    # Execs on the host, by a program whose name nothing else uses.
    work = tempfile.mkdtemp(prefix="ksight-image-exec.")
    cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))
    comm = "ksimg" + uuid.uuid4().hex[:8]
    prog = os.path.join(work, comm)
    shutil.copy(shutil.which("true"), prog)
    execs = 25
    for _ in range(execs):
        subprocess.run([prog], check=True)
    deadline = time.time() + 15
    seen = 0
    while time.time() < deadline:
        _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
        seen = value(metrics, "ksight_process_execs_total", comm=comm) or 0
        if seen >= execs:
            break
        time.sleep(0.5)
    if seen != execs:
        fail(f'ksight_process_execs_total{{comm="{comm}"}} is {seen} after {execs} execs on the host')
    log(f'ok: ksight_process_execs_total{{comm="{comm}"}} {seen:.0f} after {execs} host execs')

    pid = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    with open(f"/proc/{pid}/comm") as f:
        comm_of_pid = f.read().strip()
    if comm_of_pid != "ksight":
        fail(f"the container's pid {pid} is {comm_of_pid}, not ksight")
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        mask = int(status[k], 16)
        log(f"{k} {status[k]} {','.join(caps_of(mask)) or '-'}")
    log(f"NoNewPrivs {status.get('NoNewPrivs')} Seccomp {status.get('Seccomp')} (2: filter)")
    # The container holds the chart's list, less what this host itself lacks
    # (a sandbox without SYS_RESOURCE cannot hand it on).
    with open("/proc/self/status") as f:
        host_bnd = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    want = set(added) & set(caps_of(host_bnd))
    held = set(caps_of(int(status["CapBnd"], 16)))
    if held != want:
        fail(f"the bounding set is {sorted(held)}, not the chart's {sorted(want)}")
    missing = sorted(set(added) - want)
    if missing:
        log(f"note: this host's own bounding set lacks {', '.join(missing)}")
    if status.get("NoNewPrivs", "").strip() != "1" or status.get("Seccomp", "").strip() != "2":
        fail("no_new_privs or the seccomp filter is missing")

    if args.ablate:
        ablate(tag, flags, added, cargs, default_probes, env, run_id)


def ablate(tag, flags, added, cargs, default_probes, env, run_id):
    """Which default probe fails without each capability (a report)."""
    for cap in added:
        f = [x for x in flags if x != f"--cap-add={cap}"]
        name = f"ksight-image-ablate-{run_id}-{cap.lower()}"
        port = free_port()
        start(tag, name, f, cargs, port, env)
        ready, body = wait_ready(name, port, 20)
        _, metrics = http_get(f"http://127.0.0.1:{port}/metrics")
        down = [p for p in default_probes if value(metrics, "ksight_probe_up", probe=p) != 1]
        log(f"without {cap}: ready={ready} probes down: {', '.join(down) or 'none'}")
        podman("rm", "-f", "-t", "2", name, check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ksight", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the image and container")
    ap.add_argument("--ablate", action="store_true")
    args = ap.parse_args()

    if os.geteuid() != 0:
        skip_or_fail("needs root (BPF, podman with host paths)")
    for tool in ("podman", "runc", "debootstrap", "objcopy"):
        if not shutil.which(tool):
            skip_or_fail(f"no {tool} (scripts/setup installs it)")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        skip_or_fail("the kernel has no BTF (/sys/kernel/btf/vmlinux)")
    try:
        import yaml
    except ImportError:
        skip_or_fail("no PyYAML (python3-yaml; scripts/setup installs it)")

    t = time.time()
    try:
        run_checks(args, yaml)
    finally:
        if not args.keep:
            for c in reversed(cleanups):
                c()
    log(f"passed in {time.time() - t:.0f} s")


if __name__ == "__main__":
    main()
