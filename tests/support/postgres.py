"""A throwaway PostgreSQL server on 127.0.0.1 for the tests: Debian's server (`make install` installs
the `postgresql` package), a fresh data directory, a free port, stopped and deleted afterwards.

PostgreSQL refuses to run as root, so under root it runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found under /usr/lib/postgresql: run `make install` "
                           "(it installs Debian's postgresql package)")
    return found[-1]


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str]) -> None:
    done = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stdout}{done.stderr}")


@contextmanager
def server() -> Iterator[str]:
    """Starts a server; yields the conninfo of its database `test` (user `postgres`, trust auth on loopback)."""
    root = Path(tempfile.mkdtemp(prefix="mso-pg-"))
    data, sockets, port = root / "data", root / "sockets", _free_port()
    sockets.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    try:
        _run([_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        _run([_bin("pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "start",
              "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"])
        _run([_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "test"])
        yield f"host=127.0.0.1 port={port} user=postgres dbname=test"
    finally:
        if (data / "postmaster.pid").exists():
            _run([_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
