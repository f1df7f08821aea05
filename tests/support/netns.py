"""A private network for a test: a namespace joined to this host by two veth links that can be cut.

The process under test runs inside the namespace; one link carries its database traffic (through a
proxy on this host), the other its HTTP traffic. Taking the database link down drops its packets
silently, exactly as a network partition does: no reset, no refusal, nothing ever answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import subprocess
import uuid


def _ip(*words: str, namespace: str | None = None) -> None:
    command = (["ip", "netns", "exec", namespace, "ip"] if namespace else ["ip"]) + list(words)
    subprocess.run(command, check=True, capture_output=True, text=True)


@dataclasses.dataclass
class PrivateNetwork:
    """Addresses of the namespace ``name``: the host's ends (``db_host``, ``web_host``) and the namespace's."""

    name: str
    db_link: str
    db_host: str
    db_inside: str
    web_host: str
    web_inside: str

    def exec_prefix(self) -> list[str]:
        """Prefix a command with this to run it inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def cut_database(self) -> None:
        """A partition: the database link goes down, its packets are dropped without a word."""
        _ip("link", "set", self.db_link, "down")

    def restore_database(self) -> None:
        """The partition heals."""
        _ip("link", "set", self.db_link, "up")


@contextlib.contextmanager
def private_network():
    """A namespace with a database link and a web link to this host; removed afterwards."""
    tag = uuid.uuid4().hex[:6]
    name = f"hq-{tag}"
    subnet = random.randint(1, 250)
    links = {"db": (f"hqd{tag}", f"hqe{tag}", f"10.231.{subnet}.1", f"10.231.{subnet}.2"),
             "web": (f"hqw{tag}", f"hqx{tag}", f"10.232.{subnet}.1", f"10.232.{subnet}.2")}
    try:
        _ip("netns", "add", name)
        _ip("link", "set", "lo", "up", namespace=name)
        for host_end, inside_end, host_ip, inside_ip in links.values():
            _ip("link", "add", host_end, "type", "veth", "peer", "name", inside_end)
            _ip("link", "set", inside_end, "netns", name)
            _ip("addr", "add", f"{host_ip}/30", "dev", host_end)
            _ip("link", "set", host_end, "up")
            _ip("addr", "add", f"{inside_ip}/30", "dev", inside_end, namespace=name)
            _ip("link", "set", inside_end, "up", namespace=name)
    except (OSError, subprocess.CalledProcessError) as exc:
        _remove(name, links)
        detail = getattr(exc, "stderr", "") or str(exc)
        raise AssertionError(f"cannot make a private network (this test needs root and `ip netns`): {detail}") from exc
    try:
        db, web = links["db"], links["web"]
        yield PrivateNetwork(name, db[0], db[2], db[3], web[2], web[3])
    finally:
        _remove(name, links)


def _remove(name: str, links: dict) -> None:
    for host_end, *_ in links.values():
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
