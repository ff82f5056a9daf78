"""A real Asterisk 22 for development and tests: a Debian sid chroot, built once and cached.

The chroot (default `/var/cache/madoguchi/asterisk-sid`) is built with debootstrap the first time,
into a `.partial` directory that is renamed only once Asterisk is installed and checked, so a
half-built chroot is never reused. Each *instance* (a name, e.g. `default` or `test-1234`) gets its
own directory inside the chroot (`/srv/madoguchi/<instance>`: config, run, log, spool, media,
recordings), so several instances with different ports can share one chroot.

`up()` renders our config set (`telephony/asterisk/`) with the instance's host, ports and AMI
credentials, starts `chroot ROOT /usr/sbin/asterisk -f -n -C ...` in its own session, waits for
AMI `FullyBooted`, and records the pid; `down()` stops it by that pid (SIGTERM, then SIGKILL).
Must run as root.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from telephony.ami.protocol import AmiMessage, Parser, encode_action
from telephony.asterisk import render_config

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/var/cache/madoguchi/asterisk-sid")
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("asterisk", "asterisk-modules")
REQUIRED_FILES = (
    "usr/sbin/asterisk",
    "usr/lib/x86_64-linux-gnu/asterisk/modules/app_audiosocket.so",
    "usr/lib/x86_64-linux-gnu/asterisk/modules/app_queue.so",
    "usr/lib/x86_64-linux-gnu/asterisk/modules/app_mixmonitor.so",
    "usr/lib/x86_64-linux-gnu/asterisk/modules/format_wav.so",
)
MARKER = "etc/madoguchi-chroot.json"


class AsteriskRuntimeError(Exception):
    """The chroot could not be built, or Asterisk did not start or stop as expected."""


@dataclass(frozen=True)
class RuntimeConfig:
    """Where an instance lives and what it listens on."""

    ami_user: str
    ami_secret: str
    root: Path = DEFAULT_ROOT
    instance: str = "default"
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    audiosocket: str = "127.0.0.1:9092"
    sip_bind: str = "127.0.0.1:5060"
    operator_secret: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    test_context: bool = False
    boot_timeout: float = 30.0
    extra: dict[str, str] = field(default_factory=dict)
    # admission (queue madoguchi-line): seats = calls the IVR takes at once; the waiting limits
    line_seats: int = 8
    line_max_waiting: int = 20
    line_max_wait_minutes: int = 15
    line_call_seconds: int = 90
    # the carrier trunk (madoguchi-trunk.conf, rtp.conf): see telephony.asterisk.trunk
    trunk_host: str = "192.0.2.10"
    trunk_codecs: str = "ulaw,alaw"
    trunk_register_user: str = ""
    trunk_register_secret: str = field(default="", repr=False)
    trunk_external_address: str = ""
    trunk_local_nets: str = ""
    rtp_ports: tuple[int, int] = (10000, 20000)
    #: the line's prompts, name -> 8 kHz 16-bit mono PCM, installed as <instance>/sounds/<name>.sln
    sounds: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def inner_dir(self) -> str:
        """The instance directory as Asterisk sees it (inside the chroot)."""
        return f"/srv/madoguchi/{self.instance}"

    @property
    def host_dir(self) -> Path:
        return self.root / self.inner_dir.lstrip("/")


@dataclass(frozen=True)
class RuntimeStatus:
    chroot_ready: bool
    running: bool
    pid: int | None
    ami: str
    instance_dir: Path
    version: str | None


def chroot_ready(root: Path) -> bool:
    """True if `root` is a complete chroot built by `build_chroot` (marker and key files present)."""
    return (root / MARKER).is_file() and all((root / rel).is_file() for rel in REQUIRED_FILES)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(args: list[str], what: str) -> str:
    log.info("%s: %s", what, " ".join(args))
    proc = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise AsteriskRuntimeError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def build_chroot(root: Path = DEFAULT_ROOT, *, mirror: str = MIRROR) -> Path:
    """Build the Debian sid chroot with Asterisk once; later calls return at once. Safe across processes."""
    if chroot_ready(root):
        return root
    if os.geteuid() != 0:
        raise AsteriskRuntimeError("building the Asterisk chroot needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise AsteriskRuntimeError("debootstrap is missing: run `bash scripts/system-deps.sh`")
    with _file_lock(root.with_name(root.name + ".lock")):
        if chroot_ready(root):
            return root
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if root.exists():
            shutil.rmtree(root)
        started = time.monotonic()
        _run(["debootstrap", "--variant=minbase", "sid", str(partial), mirror], "debootstrap")
        # No services may start inside the chroot while packages install.
        policy = partial / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        apt = ["chroot", str(partial), "apt-get", "-o", "Acquire::Check-Valid-Until=false"]
        _run([*apt, "update"], "apt-get update (chroot)")
        _run([*apt, "install", "-y", "--no-install-recommends", *PACKAGES], "apt-get install asterisk (chroot)")
        version = _run(["chroot", str(partial), "/usr/sbin/asterisk", "-V"], "asterisk -V").strip()
        (partial / MARKER).write_text(json.dumps({"version": version, "packages": PACKAGES, "mirror": mirror}))
        if not chroot_ready(partial):
            missing = [rel for rel in REQUIRED_FILES if not (partial / rel).is_file()]
            raise AsteriskRuntimeError(f"chroot incomplete after install, missing: {missing}")
        partial.rename(root)
        log.info("Asterisk chroot ready at %s (%s) in %.0f s", root, version, time.monotonic() - started)
    return root


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_fully_booted(host: str, port: int, user: str, secret: str, timeout: float) -> None:
    """Log in to AMI (retrying until `timeout`) and wait for the `FullyBooted` event."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())) as sock:
                parser = Parser()
                sock.sendall(encode_action("Login", "boot-1", {"Username": user, "Secret": secret, "Events": "system"}))
                while time.monotonic() < deadline:
                    sock.settimeout(max(0.05, deadline - time.monotonic()))
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("AMI closed the connection")
                    for message in parser.feed(chunk):
                        if not isinstance(message, AmiMessage):
                            continue
                        if message.get("Response") == "Error":
                            raise AsteriskRuntimeError(f"AMI login refused: {message.get('Message')}")
                        if message.get("Event") == "FullyBooted":
                            return
        except (OSError, ConnectionError) as exc:
            last_error = exc
            time.sleep(0.1)
    raise AsteriskRuntimeError(f"Asterisk did not reach FullyBooted within {timeout:.0f} s ({last_error})")


class AsteriskRuntime:
    """One Asterisk instance inside the shared chroot."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None

    # Paths on the host side. Never go through ROOT/var/run: inside the chroot it is an absolute
    # symlink to /run, which from the host would be the host's own /run.
    @property
    def instance_dir(self) -> Path:
        return self.config.host_dir

    @property
    def media_dir(self) -> Path:
        """Host path of the directory the test context plays caller WAVs from."""
        return self.instance_dir / "media"

    @property
    def recordings_dir(self) -> Path:
        """Host path where MixMonitor recordings of the test context land."""
        return self.instance_dir / "recordings"

    def inner(self, host_path: Path) -> str:
        """The path Asterisk sees (inside the chroot) for a host path under the chroot."""
        return "/" + str(Path(host_path).resolve().relative_to(self.config.root.resolve()))

    @property
    def sounds_dir(self) -> Path:
        """Host path of the line's prompts (extensions.conf plays them as ${MADOGUCHI_SOUNDS}/<name>)."""
        return self.instance_dir / "sounds"

    @property
    def _pid_file(self) -> Path:
        return self.instance_dir / "asterisk.host.pid"

    @property
    def log_file(self) -> Path:
        return self.instance_dir / "log" / "console.log"

    def values(self) -> dict[str, str]:
        cfg = self.config
        inner = cfg.inner_dir
        return {
            "AMI_BIND": cfg.ami_host,
            "AMI_PORT": str(cfg.ami_port),
            "AMI_USER": cfg.ami_user,
            "AMI_SECRET": cfg.ami_secret,
            "AMI_PERMIT": f"{cfg.ami_host}/255.255.255.255" if cfg.ami_host != "0.0.0.0" else "127.0.0.1/255.0.0.0",
            "AUDIOSOCKET": cfg.audiosocket,
            "SIP_BIND": cfg.sip_bind,
            "OPERATOR_SECRET": cfg.operator_secret,
            "ETC_DIR": f"{inner}/etc",
            "RUN_DIR": f"{inner}/run",
            "LOG_DIR": f"{inner}/log",
            "SPOOL_DIR": f"{inner}/spool",
            "DB_DIR": f"{inner}/db",
            "MEDIA_DIR": f"{inner}/media",
            "RECORDINGS_DIR": f"{inner}/recordings",
            "LINE_SEATS": str(cfg.line_seats),
            "LINE_MAX_WAITING": str(cfg.line_max_waiting),
            "LINE_MAX_WAIT_MINUTES": str(cfg.line_max_wait_minutes),
            "LINE_CALL_SECONDS": str(cfg.line_call_seconds),
            "LINE_SOUNDS": f"{inner}/sounds",
            "TRUNK_HOST": cfg.trunk_host,
            "TRUNK_CODECS": cfg.trunk_codecs,
            "TRUNK_REGISTER_USER": cfg.trunk_register_user,
            "TRUNK_REGISTER_SECRET": cfg.trunk_register_secret,
            "TRUNK_EXTERNAL_ADDRESS": cfg.trunk_external_address,
            "TRUNK_LOCAL_NETS": cfg.trunk_local_nets,
            "RTP_START": str(cfg.rtp_ports[0]),
            "RTP_END": str(cfg.rtp_ports[1]),
            **cfg.extra,
        }

    def install_config(self) -> None:
        """Render our config set (plus the test context if asked) into the instance directory.

        Asterisk runs as the chroot's `asterisk` user (asterisk.conf `runuser`): it owns the
        directories it writes, and reads the config through its group (secrets: mode 0640)."""
        etc = self.instance_dir / "etc"
        uid, gid = self._asterisk_ids()
        for sub in ("etc", "run", "log", "spool", "db", "media", "recordings", "sounds"):
            (self.instance_dir / sub).mkdir(parents=True, exist_ok=True)
            if sub not in ("etc", "media", "sounds"):
                os.chown(self.instance_dir / sub, uid, gid)
        for old in etc.glob("*.conf"):
            old.unlink()
        for name, text in render_config(self.values(), test=self.config.test_context).items():
            path = etc / name
            path.write_text(text)
            path.chmod(0o640)
            os.chown(path, 0, gid)
        self.install_sounds()

    def install_sounds(self) -> None:
        """Write the line's prompts as signed-linear 8 kHz files (`.sln`), readable by Asterisk."""
        for old in self.sounds_dir.glob("*.sln"):
            old.unlink()
        for name, pcm in self.config.sounds.items():
            if not name.replace("-", "").isalnum():
                raise AsteriskRuntimeError(f"sound name {name!r}: letters, digits and - only")
            path = self.sounds_dir / f"{name}.sln"
            path.write_bytes(pcm)
            path.chmod(0o644)

    def _asterisk_ids(self) -> tuple[int, int]:
        """The uid and gid of the chroot's `asterisk` user (the Debian package creates it)."""
        for line in (self.config.root / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "asterisk":
                return int(fields[2]), int(fields[3])
        raise AsteriskRuntimeError(f"no asterisk user in the chroot {self.config.root}")

    def pid(self) -> int | None:
        """The pid of this instance's Asterisk, if it runs (checked against /proc, so a reused pid
        of another process is never taken for it)."""
        try:
            pid = int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        conf = f"{self.config.inner_dir}/etc/asterisk.conf".encode()
        return pid if conf in cmdline else None

    def up(self) -> int:
        """Build the chroot if needed, install config, start Asterisk, wait for FullyBooted; the pid."""
        cfg = self.config
        build_chroot(cfg.root)
        running = self.pid()
        if running is not None:
            raise AsteriskRuntimeError(f"instance {cfg.instance!r} already runs (pid {running}); run down first")
        self.install_config()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            self._proc = subprocess.Popen(
                ["chroot", str(cfg.root), "/usr/sbin/asterisk", "-f", "-n", "-C", f"{cfg.inner_dir}/etc/asterisk.conf"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._pid_file.write_text(str(self._proc.pid))
        try:
            wait_fully_booted(cfg.ami_host, cfg.ami_port, cfg.ami_user, cfg.ami_secret, cfg.boot_timeout)
        except Exception:
            self.down()
            raise
        log.info("Asterisk instance %s up (pid %d, AMI %s:%d)", cfg.instance, self._proc.pid, cfg.ami_host, cfg.ami_port)
        return self._proc.pid

    def down(self, grace: float = 5.0) -> bool:
        """Stop the instance by its pid: SIGTERM, then SIGKILL after `grace` s. False if it was not running."""
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._still_running(pid):
            time.sleep(0.05)
        if self._still_running(pid):
            log.warning("Asterisk pid %d ignored SIGTERM; killing it", pid)
            os.kill(pid, signal.SIGKILL)
            while self._still_running(pid):
                time.sleep(0.05)
        self._pid_file.unlink(missing_ok=True)
        return True

    def _still_running(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        return _pid_alive(pid)

    def status(self) -> RuntimeStatus:
        version = None
        marker = self.config.root / MARKER
        if marker.is_file():
            version = json.loads(marker.read_text()).get("version")
        pid = self.pid()
        return RuntimeStatus(
            chroot_ready=chroot_ready(self.config.root),
            running=pid is not None,
            pid=pid,
            ami=f"{self.config.ami_host}:{self.config.ami_port}",
            instance_dir=self.instance_dir,
            version=version,
        )


def sweep_stale(root: Path, prefix: str, owner_alive=_pid_alive) -> list[str]:
    """Stop and remove instances named `<prefix><owner pid>` whose owner process is gone (a test run
    that was killed leaves its Asterisk running). Returns the names swept."""
    base = root / "srv" / "madoguchi"
    swept = []
    for directory in sorted(base.glob(f"{prefix}*")) if base.is_dir() else []:
        owner = directory.name[len(prefix):]
        if not owner.isdigit() or owner_alive(int(owner)):
            continue
        runtime = AsteriskRuntime(RuntimeConfig(ami_user="-", ami_secret="-", root=root, instance=directory.name))
        runtime.down()
        shutil.rmtree(directory, ignore_errors=True)
        swept.append(directory.name)
        log.info("swept stale Asterisk instance %s", directory.name)
    return swept
