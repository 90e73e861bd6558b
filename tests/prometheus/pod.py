"""The pod of tests/prometheus/dashboards_test.py: a fake Kubernetes API
server that lists (and watches, unchanging) one pod on the test's node, and
that pod's container cgroup at the kubelet's cgroupfs path, with a memory
limit for an OOM kill."""
import http.server
import json
import os
import threading
import urllib.parse
import uuid

NODE = "ksight-dash-node"
NS, POD, CONTAINER = "shop", "web-5d8f7c9b4-x2k4q", "app"


# --- the fake Kubernetes API server: one pod on this node, list and watch ---

def pod_json(uid, cid):
    return {
        "metadata": {"name": POD, "namespace": NS, "uid": uid, "resourceVersion": "7",
                     "labels": {"app": "web", "pod-template-hash": "5d8f7c9b4"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "web-5d8f7c9b4", "uid": str(uuid.uuid4()),
                                          "controller": True}]},
        "spec": {"nodeName": NODE, "containers": [{"name": CONTAINER, "image": "web"}]},
        "status": {"phase": "Running", "qosClass": "BestEffort",
                   "containerStatuses": [{"name": CONTAINER, "containerID": "containerd://" + cid,
                                          "ready": True, "restartCount": 0}]},
    }


def api_server(pod, stop_event):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(url.query)
            if url.path != "/api/v1/pods":
                body = b'{"kind":"Status","code":404}'
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if q.get("watch") == ["1"]:
                # Nothing changes: hold the watch open until the test ends.
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                stop_event.wait(60)
                self.close_connection = True
                return
            items = [pod] if "spec.nodeName=" + NODE in q.get("fieldSelector", [""])[0] else []
            body = json.dumps({"kind": "PodList", "apiVersion": "v1",
                               "metadata": {"resourceVersion": "7"}, "items": items}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# --- cgroups: the pod's container (kubelet cgroupfs layout) and a memory limit ---

def cgroup2_mount():
    mounts = {}
    with open("/proc/mounts") as f:
        for line in f:
            dev, path, fstype = line.split()[:3]
            mounts[path] = fstype
    for path in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if mounts.get(path) == "cgroup2":
            return path
    return None


def make_dirs(path, cleanups):
    """Creates path and its missing parents; removes what it created at exit."""
    made = []
    p = path
    while not os.path.isdir(p):
        made.append(p)
        p = os.path.dirname(p)
    for d in reversed(made):
        os.mkdir(d)
    cleanups.append(lambda: [os.rmdir(d) for d in made if os.path.isdir(d)])


def write(path, value):
    with open(path, "w") as f:
        f.write(value)


def setup_cgroups(uid, cid, cleanups):
    """The pod's container cgroup and a 32 MiB memory limit: the cgroup.procs
    files to join them (None for the limit when it is on the container cgroup
    itself), or None without a cgroup2 mount."""
    base = cgroup2_mount()
    if not base:
        return None
    pod_cg = os.path.join(base, "kubepods", "besteffort", "pod" + uid, cid)
    make_dirs(pod_cg, cleanups)
    limit = str(32 << 20)
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):  # hybrid: v1 memory
        mem = "/sys/fs/cgroup/memory/ksight-dash-%d" % os.getpid()
        make_dirs(mem, cleanups)
        write(mem + "/memory.limit_in_bytes", limit)
        try:
            write(mem + "/memory.memsw.limit_in_bytes", limit)
        except OSError:
            pass  # no swap accounting
        mem_procs = mem + "/cgroup.procs"
    else:  # pure v2: the container cgroup itself gets the limit
        d = base
        for part in ("kubepods", "besteffort", "pod" + uid):
            write(d + "/cgroup.subtree_control", "+memory")
            d = os.path.join(d, part)
        write(d + "/cgroup.subtree_control", "+memory")
        write(pod_cg + "/memory.max", limit)
        write(pod_cg + "/memory.swap.max", "0")
        mem_procs = None
    return pod_cg + "/cgroup.procs", mem_procs


def in_pod(pod_procs, mem_procs=None):
    """preexec_fn: the child joins the pod's container (and the memory limit)."""
    def join():
        write(pod_procs, str(os.getpid()))
        if mem_procs:
            write(mem_procs, str(os.getpid()))
    return join
