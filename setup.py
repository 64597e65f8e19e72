"""Builds callsfu's optional native fan-out (sfu/native/*.c) with this machine's compiler.

Everything else is declared in pyproject.toml. When the extension cannot be
built (no compiler, no Python headers), the install still succeeds, says so
plainly, and the server forwards on the pure-Python path.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

WARNING = (
    "\n*** callsfu: the native fan-out (sfu/native/_fanout) could not be built: {}\n"
    "*** callsfu will forward on the pure-Python path (slower per subscriber).\n"
    "*** Install a C compiler and the Python headers, then reinstall, to get it.\n"
)


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all, missing headers, ...
            print(WARNING.format(exc), file=sys.stderr, flush=True)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(WARNING.format(exc), file=sys.stderr, flush=True)


def openssl() -> dict[str, list]:
    """Build gcm.c (our own AES-GCM SRTP streams) when OpenSSL's headers and
    libcrypto are there; without them the sink protects with libsrtp alone."""
    include = [sysconfig.get_config_var("INCLUDEDIR") or "/usr/include", "/usr/include", "/usr/local/include"]
    if any(os.path.exists(os.path.join(d, "openssl", "evp.h")) for d in include) and ctypes.util.find_library("crypto"):
        return {"define_macros": [("CALLSFU_OPENSSL", "1")], "libraries": ["crypto"]}
    print("*** callsfu: no OpenSSL headers (libssl-dev): the native sink protects with libsrtp only", file=sys.stderr)
    return {}


setup(
    ext_modules=[
        Extension(
            "sfu.native._fanout",
            sources=["sfu/native/fanout.c", "sfu/native/sink.c", "sfu/native/rewriter.c", "sfu/native/gcm.c"],
            depends=["sfu/native/native.h"],
            extra_compile_args=["-O2", "-Wall", "-std=c11", "-D_GNU_SOURCE"],
            optional=True,
            **openssl(),
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
