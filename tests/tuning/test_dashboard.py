"""--dashboard: Ray's dashboard on 127.0.0.1 only, token authentication on, URL printed."""

import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tuning import sweep

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "search_spaces" / "gru.yaml"


def _listeners(port: int) -> set[str]:
    """Local addresses of TCP sockets listening on ``port`` (Linux /proc), IPv4 and IPv6."""
    found = set()
    for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(path).read_text().splitlines()[1:]:
            fields = line.split()
            addr, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            words = [struct.pack("<I", int(addr[i:i + 8], 16)) for i in range(0, len(addr), 8)]
            found.add(socket.inet_ntop(family, b"".join(words)))
    return found


def _status(url: str, token: str | None = None) -> int:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        # A generous timeout: a loaded machine answers late, and 0 would read as "not up".
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.slow
def test_dashboard_on_loopback_only_with_token_auth(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tuning.sweep", "--space", str(SPACE), "--smoke",
                             "--storage-path", str(tmp_path), "--name", "d", "--dashboard",
                             "--dashboard-port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=log, text=True)
    url = f"http://127.0.0.1:{port}/api/version"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and _status(url) == 0:
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()[-2000:]
            time.sleep(0.5)
        # While the sweep runs: the dashboard answers on loopback and listens nowhere else.
        assert _listeners(port) == {"127.0.0.1"}, _listeners(port)
        # Token authentication stays on: no token, no answer.
        assert _status(url) == 401
        token = (Path.home() / ".ray" / "auth_token").read_text().strip()
        assert _status(url, token) == 200
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 0, err[-2000:]
    assert f"Ray dashboard: http://127.0.0.1:{port}" in err


def test_missing_dashboard_dependencies_give_an_install_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "_dashboard_available", lambda: False)
    code = sweep.main(["--space", str(SPACE), "--smoke", "--storage-path", str(tmp_path / "s"),
                       "--dashboard"])
    assert code == 2 and 'pip install -e ".[dashboard]"' in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
