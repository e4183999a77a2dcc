"""A seccomp filter for the candidate's sandbox: no nested user namespaces, no System V shared memory.

Why. As root the sandbox runs the program as an unused uid without a user namespace of its own, and
bubblewrap's ``--disable-userns`` only exists together with ``--unshare-user``; an unprivileged uid may still
create a user namespace of its own, which hands it capabilities over new mount and network namespaces and
widens the kernel surface it can reach. System V shared memory is the one memory channel no rlimit counts:
a segment keeps its pages after it is detached, so attach, fill, detach and repeat grows past RLIMIT_AS.
Neither is needed by a Python function under test, so both are refused with EPERM (``clone3``, whose flags
a classic filter cannot read, answers ENOSYS, and the C library falls back to ``clone``).

No library: libseccomp's Python bindings are not on PyPI, and the filter is fourteen classic BPF instructions
handed to ``bwrap --seccomp FD``. Only x86_64 and aarch64 are known; elsewhere no filter is installed and
the isolation's description says so.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

# (audit arch, unshare, clone, clone3, shmget) per machine; numbers from the kernel's syscall tables
_ARCHES = {
    "x86_64": (0xC000003E, 272, 56, 435, 29),
    "aarch64": (0xC00000B7, 97, 220, 435, 194),
}
CLONE_NEWUSER = 0x10000000
_LD_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000


def supported() -> bool:
    return platform.machine() in _ARCHES


def program() -> bytes:
    """The filter as ``struct sock_filter`` records (what ``bwrap --seccomp`` reads)."""
    arch, unshare, clone, clone3, shmget = _ARCHES[platform.machine()]
    deny, nosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    insns = [
        (_LD_ABS, 0, 0, 4),  # 0: seccomp_data.arch
        (_JEQ, 1, 0, arch),  # 1: native arch -> 3
        (_RET, 0, 0, deny),  # 2: another ABI (i386 int 0x80 and the like): refuse everything
        (_LD_ABS, 0, 0, 0),  # 3: seccomp_data.nr
        (_JGE, 7, 0, 0x40000000),  # 4: x32 numbers -> 12 (refuse)
        (_JEQ, 3, 0, unshare),  # 5: -> 9 (check the flags)
        (_JEQ, 2, 0, clone),  # 6: -> 9
        (_JEQ, 3, 0, clone3),  # 7: -> 11
        (_JEQ, 3, 4, shmget),  # 8: -> 12 (refuse), else -> 13 (allow)
        (_LD_ABS, 0, 0, 16),  # 9: low half of args[0], the flags
        (_JSET, 1, 2, CLONE_NEWUSER),  # 10: a new user namespace -> 12, else -> 13
        (_RET, 0, 0, nosys),  # 11: clone3
        (_RET, 0, 0, deny),  # 12
        (_RET, 0, 0, _ALLOW),  # 13
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in insns)


def filter_fd() -> int | None:
    """A readable descriptor positioned at the start of the filter, or None where no filter is known."""
    if not supported():
        return None
    fd = os.memfd_create("boostlora-seccomp", 0)  # close-on-exec until passed to bwrap by pass_fds
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
