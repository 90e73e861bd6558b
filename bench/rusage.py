"""CPU and peak RSS of a tool, measured from a small parent (bench/rusage.c).

Linux keeps a process's peak RSS across fork and execve: a tool forked by
this (large) Python process reports at least Python's RSS from wait4(). Every
tool is therefore started through build/bench/ksight_rusage, which forks it
from a process of a few hundred KiB and writes its rusage to a file.
"""
import os
import subprocess
import tempfile

from paths import LAUNCHER


def spawn(argv, **kwargs):
    """subprocess.Popen of argv through the launcher; signals reach the tool."""
    fd, path = tempfile.mkstemp(prefix="ksight-rusage-")
    os.close(fd)
    proc = subprocess.Popen([LAUNCHER, path, *argv], **kwargs)
    proc.rusage_path = path
    return proc


def finish(proc):
    """Waits for the tool; {"cpu": s, "rss_mib": MiB, "status": wait status}."""
    proc.wait()
    try:
        with open(proc.rusage_path) as f:
            utime, stime, maxrss_kib, status = f.read().split()
        return {"cpu": float(utime) + float(stime), "rss_mib": int(maxrss_kib) / 1024,
                "status": int(status)}
    except (OSError, ValueError):
        return {"cpu": float("nan"), "rss_mib": float("nan"), "status": -1}
    finally:
        try:
            os.unlink(proc.rusage_path)
        except OSError:
            pass
