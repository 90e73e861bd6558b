"""Where the benchmarks find the build and its tools, and a free port: one
place for what bench/run.py and its section modules share."""
import os
import socket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
KSIGHT = os.path.join(BUILD, "ksight")
LOADGEN = os.path.join(BUILD, "bench", "ksight_loadgen")
WORK = os.path.join(BUILD, "tests", "ksight-work")
HOT = os.path.join(BUILD, "tests", "ksight-hot")
MICRO = os.path.join(BUILD, "bench", "ksight_microbench")
BURST = os.path.join(BUILD, "bench", "ksight_burst")
LAUNCHER = os.path.join(BUILD, "bench", "ksight_rusage")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
