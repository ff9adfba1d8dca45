"""An exclusive lock on an output folder, so that two runs never write into the same one.

The lock is the file ``DIR/.lock``, created atomically (``O_CREAT | O_EXCL``) and holding ``{"pid", "host"}``
as JSON. It is removed when the run ends (also on errors and after Ctrl-C / SIGTERM). A lock left by a
process that died without removing it (SIGKILL, power loss) is stale: when its host is this machine and its pid
is no longer alive, the next run takes it over. A lock from another host is never taken over (its pid cannot be
checked from here).
"""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

from perception.errors import UserInputError

LOCK_NAME = ".lock"


class OutputLocked(UserInputError):
    """The output folder is locked by another run that is still alive (or whose liveness cannot be checked)."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(f"output folder {folder} is in use by another run (held by {holder}); wait for it to "
                         f"finish or choose another --output (remove {folder / LOCK_NAME} only if no run uses it)")
        self.folder = folder
        self.holder = holder


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (another user's process counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(path: Path) -> tuple[int | None, str | None]:
    """(pid, host) from a lock file; (None, None) when it is unreadable or not ours."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        pid, host = obj["pid"], obj["host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    if not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(host, str):
        return None, None
    return pid, host


class OutputLock:
    """``OutputLock(folder).acquire()`` ... ``release()``; also a context manager.

    ``acquire`` raises OutputLocked when a live run holds the folder; ``took_over`` then says whether a stale
    lock (``"pid@host"``) was replaced. The folder must exist.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.took_over: str | None = None
        self._held = False

    def acquire(self) -> "OutputLock":
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(5):  # a stale lock removed here may be re-created by a concurrent run: look again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid, host = _read_holder(self.path)
                if pid is None:
                    # Unreadable: possibly a run that has just created it and not yet written it.
                    raise OutputLocked(self.folder, "an unknown run: unreadable lock file") from None
                if host != me["host"] or _pid_alive(pid):
                    raise OutputLocked(self.folder, f"{pid}@{host}") from None
                self.took_over = f"{pid}@{host}"
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                continue
            except OSError as e:
                if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                    raise UserInputError(f"cannot write into output folder {self.folder}: {e.strerror}") from None
                raise
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
                f.write("\n")
            self._held = True
            return self
        raise OutputLocked(self.folder, "lock changed hands repeatedly")

    def release(self) -> None:
        """Remove the lock if this process holds it (idempotent)."""
        if not self._held:
            return
        self._held = False
        pid, host = _read_holder(self.path)
        if pid == os.getpid() and host == socket.gethostname():  # never remove another run's lock
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
