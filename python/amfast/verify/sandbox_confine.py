"""Confinement steps of the sandbox supervisor: the filesystem view and the syscall filter.

Standard library only (ctypes); runs inside the sandbox next to `sandbox_supervisor`.

- `private_root`: the supervisor (root, PID 1 of fresh mount/PID namespaces) builds a new root
  on an empty tmpfs holding only what the interpreter needs, bound read-only: `/usr` (with the
  host's `/bin`, `/lib*`, `/sbin` links), the interpreter's own prefix (e.g. a pyenv under
  `/root`, without the rest of `/root`), the character devices `null zero full random urandom`,
  a fresh `/proc` of the sandbox's PID namespace and a private size-limited `/tmp` owned by the
  solution's uid. It then `pivot_root`s into it and detaches the host's tree, so the host's
  data, the project checkout, the host's `/tmp` (and every unix socket bound on a path there)
  and `/dev/shm` do not exist for solutions.
- `deny_unaccounted_memory`: a seccomp filter (classic BPF built here; no libseccomp needed)
  that makes the syscalls that hold memory outside `RLIMIT_AS` fail with EPERM: `memfd_create`,
  `memfd_secret`, SysV `shmget`/`msgget`/`semget` and `io_uring_setup`; syscalls of another
  ABI (x32, i386 through `int 0x80`) kill the process.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Iterable

MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC = 0x2, 0x4, 0x8, 0x1000, 0x4000
_MNT_DETACH = 2
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID = 0x1, 0x2
_SYS_MOUNT_SETATTR = 442  # the same number on x86_64 and aarch64
_DEVICES = ("null", "zero", "full", "random", "urandom")
_HOST_LINKS = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")

# Per architecture: the audit arch, pivot_root, and the syscalls that hold unaccounted memory.
_ARCHES = {
    "x86_64": (0xC000003E, 155, {"memfd_create": 319, "memfd_secret": 447, "shmget": 29}),
    "aarch64": (0xC00000B7, 41, {"memfd_create": 279, "memfd_secret": 447, "shmget": 194}),
}
_MORE_DENIED = {
    "x86_64": {"msgget": 68, "semget": 64, "io_uring_setup": 425},
    "aarch64": {"msgget": 186, "semget": 190, "io_uring_setup": 425},
}
_X32_SYSCALL_BIT = 0x40000000
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_RET_KILL_PROCESS, _RET_ALLOW, _RET_ERRNO = 0x80000000, 0x7FFF0000, 0x00050000
_EPERM = 1


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


def libc() -> ctypes.CDLL:
    """The C library the interpreter already links (no `ctypes.util` search)."""
    return ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    """Raises `OSError` naming `what` when a libc call failed."""
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(c: ctypes.CDLL, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    """`mount(2)`, raising on failure."""
    result = c.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode())
    check(result, f"mount {source} on {target}")


def machine() -> str:
    """The architecture, which must be one `_ARCHES` knows."""
    name = platform.machine()
    if name not in _ARCHES:
        raise OSError(f"unsupported architecture for the sandbox: {name}")
    return name


def private_root(
    c: ctypes.CDLL, root: str, uid: int, tmp_bytes: int, needed: Iterable[str]
) -> None:
    """Builds the new root at `root` (an empty host directory) and pivots into it."""
    mount(c, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for name in _HOST_LINKS:
        host = f"/{name}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), f"{root}/{name}")
        elif os.path.isdir(host):
            _bind(c, host, root)
    bound = ["/usr"]
    _bind(c, "/usr", root)
    for path in sorted({os.path.realpath(path) for path in needed}):
        if os.path.isdir(path) and not any(_covered(path, done) for done in bound):
            _bind(c, path, root)
            bound.append(path)
    os.mkdir(f"{root}/dev", 0o755)
    for device in _DEVICES:
        target = f"{root}/dev/{device}"
        with open(target, "w"):
            pass
        mount(c, f"/dev/{device}", target, "", MS_BIND, "")
    for directory in ("proc", "tmp", ".old"):
        os.mkdir(f"{root}/{directory}", 0o755)
    check(c.syscall(_ARCHES[machine()][1], root.encode(), f"{root}/.old".encode()), "pivot_root")
    os.chdir("/")
    check(c.umount2(b"/.old", _MNT_DETACH), "detach the host's tree")
    os.rmdir("/.old")
    attr = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, 0, 0)
    result = c.syscall(
        _SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", ctypes.c_uint(_AT_RECURSIVE), ctypes.byref(attr),
        ctypes.sizeof(attr),
    )  # fmt: skip
    check(result, "mount_setattr read-only")
    mount(c, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "")
    options = f"mode=0700,uid={uid},gid={uid},size={tmp_bytes}"
    mount(c, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options)


def _covered(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _bind(c: ctypes.CDLL, host: str, root: str) -> None:
    """Binds the host directory `host` at the same path under `root` (parents made 0755)."""
    target = root + host
    os.makedirs(target, 0o755, exist_ok=True)
    mount(c, host, target, "", MS_BIND | MS_REC, "")


def deny_unaccounted_memory(c: ctypes.CDLL) -> None:
    """Installs the seccomp filter (needs `no_new_privs` first); see the module docstring."""
    name = machine()
    arch, _, denied = _ARCHES[name]
    numbers = sorted({*denied.values(), *_MORE_DENIED[name].values()})
    load_word, jump_eq, jump_ge, ret = 0x20, 0x15, 0x35, 0x06
    program = [
        (load_word, 0, 0, 4),  # seccomp_data.arch
        (jump_eq, 1, 0, arch),
        (ret, 0, 0, _RET_KILL_PROCESS),
        (load_word, 0, 0, 0),  # seccomp_data.nr
        (jump_ge, 0, 1, _X32_SYSCALL_BIT),
        (ret, 0, 0, _RET_KILL_PROCESS),
    ]
    for index, number in enumerate(numbers):
        # Jump to the EPERM return, which sits after the remaining checks and the ALLOW.
        program.append((jump_eq, len(numbers) - index, 0, number))
    program += [(ret, 0, 0, _RET_ALLOW), (ret, 0, 0, _RET_ERRNO | _EPERM)]
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)

    class _Program(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    fprog = _Program(len(program), ctypes.addressof(buffer))
    check(c.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
