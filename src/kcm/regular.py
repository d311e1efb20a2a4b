"""Reading the files kcm is pointed at: only regular files, never waiting on a FIFO, never a device.

Light on purpose (os and stat only): the everyday commands read the kubeconfig through it before
anything else is imported.
"""

from __future__ import annotations

import os
import stat

from kcm.errors import InputError

MAX_BYTES = 256 * 1024 * 1024  # a 5,000-cluster kubeconfig is 12 MB: anything this big is not one

_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
}


def kind_of(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _is_devnull(info: os.stat_result) -> bool:
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == null.st_rdev


def read_bytes(path: str | os.PathLike[str]) -> bytes | None:
    """The file's bytes, or None when it does not exist.

    Only a regular file is read (and /dev/null, as empty, as kubectl reads it): a FIFO is opened without
    waiting for a writer and refused, a device is refused, and at most `MAX_BYTES` are read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        try:  # a socket cannot be opened: say what it is
            check_replaceable(path)
        except InputError as kind:
            raise InputError(str(kind).replace("changes only", "reads only")) from None
        raise InputError(f"{os.fspath(path)}: cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{os.fspath(path)}: is a directory, not a kubeconfig file")
        if _is_devnull(info):
            return b""
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"{os.fspath(path)}: is {kind_of(info.st_mode)}, not a regular file; kcm reads only files"
            )
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BYTES:
                raise InputError(f"{os.fspath(path)}: larger than {MAX_BYTES >> 20} MiB: not a kubeconfig")
    except OSError as exc:
        raise InputError(f"{os.fspath(path)}: cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


_UTF16 = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


def codec(data: bytes) -> str:
    """UTF-8, or UTF-16 when the bytes start with its BOM (Windows PowerShell's `>` writes it; kubectl
    reads it). The BOM is decoded too: the text starts with U+FEFF, as a UTF-8 file with a BOM does."""
    return _UTF16.get(data[:2], "utf-8")


def decode(data: bytes, path: str | os.PathLike[str]) -> str:
    """A file's bytes as text, in the encoding they are in; one line naming the file if they are not text."""
    name = codec(data)
    try:
        return data.decode(name)
    except UnicodeDecodeError as exc:
        shown = "UTF-8" if name == "utf-8" else "UTF-16"
        where = f"invalid {shown} at byte {exc.start}"
        raise InputError(f"{os.fspath(path)}: not a text file ({where})") from None


def check_replaceable(target: str | os.PathLike[str]) -> None:
    """kcm replaces only regular files: never a device (as root, /dev/null), a FIFO or a socket."""
    try:
        info = os.stat(target)
    except OSError:
        return
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{os.fspath(target)}: is a directory, not a kubeconfig file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"{os.fspath(target)}: is {kind_of(info.st_mode)}, not a regular file; kcm changes only files"
        )
