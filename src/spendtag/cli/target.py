"""Where a command may write a file the user named (``--output``).

Only a new path in a folder that exists, or a regular file there, which is replaced. A
symlink, FIFO, socket, device or folder is refused: replacing it would break a link or
rename a file over a device node (``/dev/full``, when run as root), and writing into it
would block on a FIFO or fill a device. A missing folder is a clear error, never created
on a guess.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from spendtag.errors import SpendtagError

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def output_path(text: str | Path, *, option: str = "--output") -> Path:
    """``text`` as a path a command may create or replace; a SpendtagError that names it otherwise."""
    path = Path(text)
    shown = str(text)[:300]
    if not str(text).strip():
        raise SpendtagError(f"{option} is empty: give a file name, e.g. {option} spend.csv")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:      # a name too long, a part of the path that is a file, no permission
        raise SpendtagError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise SpendtagError(f"will not write {shown}: it is {kind}, not a regular file "
                            f"(give {option} a new file name, or a regular file to replace)")
    folder = path.parent
    if not folder.is_dir():
        raise SpendtagError(f"cannot write {shown}: the folder {str(folder)[:300]} does not exist "
                            "(create it first, or give a file in a folder that exists)")
    return path


def open_new(path: Path) -> int:
    """A file descriptor for writing ``path`` from empty, never through a symlink or into a FIFO or device."""
    output_path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise SpendtagError(f"cannot write {str(path)[:300]}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):     # swapped in since the look above
        os.close(fd)
        raise SpendtagError(f"will not write {str(path)[:300]}: it is not a regular file")
    os.set_blocking(fd, True)
    return fd
