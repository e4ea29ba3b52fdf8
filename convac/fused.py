"""Fused CPU forward of a ConvAC: the C pass in ``csrc/fused_forward.c``.

Why it exists: on CPU the torch forward reads the ``(batch, N, M)`` features one node at a
time (torch copies that strided operand) and writes every level out to memory, which
makes it about 2.3x slower than one ``torch.bmm`` of the same multiply-adds.  The fused
pass reads the features once, keeps a chunk of samples' whole tree in cache, and runs
every 1x1 conv as vector multiply-adds over output channels, eight samples per weight
load.  Same arithmetic, another summation order: results agree to rounding.

:meth:`convac.ConvAC.forward` uses it when autograd is off (no graph to record), on CPU,
in float32 and float64; set ``net.use_fused_kernel = False`` for the torch forward.

The library is built on first use with the host's C compiler (``$CC``, else ``cc``,
``gcc`` or ``clang``), with ``-O3 -march=native -fopenmp`` or the first subset of those
flags that builds, and cached under ``$CONVAC_CACHE_DIR`` (default ``~/.cache/convac``),
keyed by the sources, the compiler and the host CPU.  Where nothing builds, the torch
forward runs instead and one warning says why; ``CONVAC_FUSED=0`` turns the kernel off.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["FusedBuild", "fused_applicable", "fused_build", "fused_forward"]

SOURCE_DIR = Path(__file__).parent / "csrc"
SOURCES = ("fused_forward.c", "fused_forward_impl.h")
ABI_VERSION = 1
# tried in order; the first that compiles and loads is used
FLAG_SETS = (
    ("-O3", "-march=native", "-fopenmp"),
    ("-O3", "-fopenmp"),
    ("-O3", "-march=native"),
    ("-O3",),
)
LANES = {torch.float32: 16, torch.float64: 8}  # scalars per 64-byte vector
SYMBOLS = {torch.float32: "convac_forward_f32", torch.float64: "convac_forward_f64"}
CHUNK = 16  # samples per cache-resident tree (two blocks of eight) ...
BLOCK = 8  # ... and samples per register block (BLOCK in csrc/fused_forward.c)


@dataclass(frozen=True)
class FusedBuild:
    """Outcome of building the kernel library.

    Attributes
    ----------
    library : ctypes.CDLL or None
        The loaded library, or None where no build worked.
    path : Path or None
        The shared object.
    flags : tuple of str
        Compiler flags it was built with.
    reason : str
        Why there is no library ("" when there is one).
    """

    library: ctypes.CDLL | None
    path: Path | None
    flags: tuple
    reason: str

    @property
    def available(self) -> bool:
        return self.library is not None

    @property
    def openmp(self) -> bool:
        return "-fopenmp" in self.flags


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and (path := shutil.which(name.split()[0])):
            return path
    return None


def _host_key(compiler: str) -> bytes:
    """Compiler identity and CPU features: ``-march=native`` builds must not travel."""
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                                 timeout=60).stdout.splitlines()[:1]
    except (OSError, subprocess.SubprocessError):
        version = []
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line for line in info if line.startswith("flags")), cpu)
    except OSError:
        pass
    return "\n".join([compiler, *version, platform.machine(), cpu]).encode()


def _cache_dir() -> Path:
    """``$CONVAC_CACHE_DIR`` or ``~/.cache/convac``; a private temporary folder where that
    cannot be written (read-only homes in CI and containers)."""
    root = os.environ.get("CONVAC_CACHE_DIR")
    user = os.getuid() if hasattr(os, "getuid") else "user"
    for folder in (Path(root) if root else Path.home() / ".cache" / "convac",
                   Path(tempfile.gettempdir()) / f"convac-cache-{user}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise OSError(f"no writable cache folder for the fused kernel (tried {root or '~/.cache'})")


def _load(path: Path) -> ctypes.CDLL:
    library = ctypes.CDLL(str(path))
    if library.convac_abi_version() != ABI_VERSION:
        raise OSError(f"{path} has ABI {library.convac_abi_version()}, expected {ABI_VERSION}")
    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
    for symbol in SYMBOLS.values():
        fn = getattr(library, symbol)
        fn.restype = ctypes.c_int
        fn.argtypes = [pointer, i64, i64, i64, pointer, i64, pointer, pointer, pointer,
                       pointer, pointer, pointer, i64, ctypes.c_int]
    return library


@functools.lru_cache(maxsize=1)
def fused_build() -> FusedBuild:
    """Build (or find in the cache) and load the kernel library, once per process.

    Returns
    -------
    FusedBuild
        ``available`` is False with a ``reason`` when it is turned off or nothing built;
        that case warns once (RuntimeWarning) unless ``CONVAC_FUSED=0`` asked for it.
    """
    if os.environ.get("CONVAC_FUSED", "1").strip() == "0":
        return FusedBuild(None, None, (), "turned off by CONVAC_FUSED=0")
    compiler = _compiler()
    if compiler is None:
        return _unavailable("no C compiler found ($CC, cc, gcc, clang)")
    digest = hashlib.sha256(_host_key(compiler))
    for name in SOURCES:
        digest.update((SOURCE_DIR / name).read_bytes())
    try:
        cache = _cache_dir()
    except OSError as err:
        return _unavailable(str(err))
    errors = []
    for flags in FLAG_SETS:
        key = hashlib.sha256(digest.digest() + " ".join(flags).encode()).hexdigest()[:16]
        target = cache / f"fused_forward-{key}.so"
        try:
            if not target.exists():
                partial = target.with_name(f"{target.name}.{os.getpid()}.part")
                command = [compiler, *flags, "-shared", "-fPIC", "-o", str(partial),
                           str(SOURCE_DIR / SOURCES[0])]
                done = subprocess.run(command, capture_output=True, text=True, timeout=300)
                if done.returncode != 0:
                    partial.unlink(missing_ok=True)
                    errors.append(f"{' '.join(flags)}: {done.stderr.strip()[-300:]}")
                    continue
                os.replace(partial, target)  # atomic: concurrent builds never see half a file
            return FusedBuild(_load(target), target, flags, "")
        except (OSError, AttributeError, subprocess.SubprocessError) as err:
            errors.append(f"{' '.join(flags)}: {err}")
    return _unavailable(f"no build worked with {compiler}; " + " | ".join(errors))


def _unavailable(reason: str) -> FusedBuild:
    warnings.warn(f"convac: the fused CPU forward is unavailable ({reason}); "
                  "the torch forward runs instead", RuntimeWarning, stacklevel=3)
    return FusedBuild(None, None, (), reason)


def fused_applicable(net, features: torch.Tensor) -> bool:
    """Whether :func:`fused_forward` can run ``net`` on ``features`` (CPU, float32/64,
    library built).  Autograd is the caller's concern: the pass records no graph."""
    dtype = net.weights[0].dtype
    return (dtype in SYMBOLS and net.weights[0].device.type == "cpu"
            and features.device.type == "cpu" and fused_build().available)


@dataclass(frozen=True)
class _Plan:
    """Weights packed for the kernel, valid while the parameters are unchanged."""

    key: tuple
    packed: tuple  # per level, (nodes_l, fan_in_l, pad_l), contiguous
    order: torch.Tensor
    windows: torch.Tensor
    widths: torch.Tensor
    pads: torch.Tensor
    nodes: torch.Tensor


# kept beside the module, not on it, so that copying or pickling a network never meets
# the plan; an entry goes with its network
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan(net) -> _Plan:
    """Packed weights, rebuilt only when a parameter or the order changed (``_version``
    counts in-place writes such as optimiser steps; ``data_ptr`` catches new storage)."""
    tensors = (*net.weights, net.order)
    key = tuple((t.data_ptr(), t._version, t.dtype) for t in tensors)
    plan = _PLANS.get(net)
    if plan is not None and plan.key == key:
        return plan
    s = net.schedule
    lanes = LANES[net.weights[0].dtype]
    pads = [-(-r // lanes) * lanes for r in s.widths]
    packed = []
    with torch.no_grad():
        for level, pad in enumerate(pads):
            weight = net.level_weights(level).detach()  # (nodes, r_l, fan_in)
            nodes, width, fan_in = weight.shape
            block = torch.zeros(nodes, fan_in, pad, dtype=weight.dtype)
            block[:, :, :width] = weight.transpose(1, 2)
            packed.append(block)
    as_i64 = functools.partial(torch.tensor, dtype=torch.int64)
    plan = _Plan(
        key=key,
        packed=tuple(packed),
        order=net.order.to(torch.int64).contiguous(),
        windows=as_i64(s.windows), widths=as_i64(s.widths), pads=as_i64(pads),
        nodes=as_i64(s.nodes),
    )
    _PLANS[net] = plan
    return plan


def fused_forward(net, features: torch.Tensor) -> torch.Tensor:
    """``net(features)`` in one fused CPU pass, without autograd.

    Parameters
    ----------
    net : ConvAC
        On CPU, float32 or float64 (see :func:`fused_applicable`).
    features : Tensor, shape ``(batch, n_patches, n_channels)``
        Already validated by the caller; converted to the weights' dtype.

    Returns
    -------
    Tensor, shape ``(batch, n_outputs)``
    """
    build = fused_build()
    if not build.available:
        raise RuntimeError(f"the fused CPU forward is unavailable: {build.reason}")
    s = net.schedule
    dtype = net.weights[0].dtype
    plan = _plan(net)
    x = features.detach().to(dtype=dtype).contiguous()  # (B, N, M)
    out = torch.empty(x.shape[0], s.n_outputs, dtype=dtype)
    if x.shape[0] == 0:
        return out
    threads = torch.get_num_threads()
    # small batches: smaller chunks, so that every thread gets one
    chunk = min(CHUNK, max(BLOCK, -(-x.shape[0] // threads // BLOCK) * BLOCK))
    pointers = (ctypes.c_void_p * len(plan.packed))(*[p.data_ptr() for p in plan.packed])
    status = getattr(build.library, SYMBOLS[dtype])(
        x.data_ptr(), x.shape[0], s.n_patches, s.n_channels, plan.order.data_ptr(),
        s.n_levels, plan.windows.data_ptr(), plan.widths.data_ptr(), plan.pads.data_ptr(),
        plan.nodes.data_ptr(), pointers, out.data_ptr(), chunk, threads)
    if status != 0:
        raise MemoryError("the fused CPU forward could not allocate its scratch buffers")
    return out
