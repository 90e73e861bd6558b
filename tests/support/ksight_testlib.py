"""What the Python tests (tests/container, tests/prometheus) share: the skip
rule of the C++ suites (exit 77, or a failure under KSIGHT_REQUIRE_BPF=1),
free ports, and GETs that answer (status, body) instead of raising."""
import os
import socket
import sys
import urllib.error
import urllib.request

SKIP = 77  # CTest's SKIP_RETURN_CODE for these tests


def log(msg):
    print(msg, flush=True)


def skip_or_fail(msg):
    if os.environ.get("KSIGHT_REQUIRE_BPF") == "1":
        log("FAIL (KSIGHT_REQUIRE_BPF=1): " + msg)
        sys.exit(1)
    log("SKIP: " + msg)
    sys.exit(SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """(status, body); (None, "") when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""
