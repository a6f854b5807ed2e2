"""Where a model spec's files are, checked before ``transformers`` reads them, so that a
bad spec is one clear line: a missing or truncated ``.gguf`` file, a folder that is not a
model, a hub id that is not cached and cannot be reached.

The network is touched only for a hub id that is not in the local Hugging Face cache, and
then once, with a short timeout (``HF_HUB_OFFLINE=1`` forbids even that); a cached hub
model, a folder, a ``.gguf`` file, a bundled model and ``tiny:<type>`` load offline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from layertracer.errors import ModelError, first_line

HUB_TIMEOUT = 5.0  # seconds for the one request that asks the hub whether a model exists
LOCAL_PREFIXES = ("/", "./", "../", "~")


def gguf_source(spec: str) -> tuple[str, dict[str, Any]]:
    """The folder and ``gguf_file`` of a ``.gguf`` spec, after checking the file.

    Raises:
        ModelError: No such file, not a GGUF file, or truncated (its tensors end after the
            file does).
    """
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {spec}")
    size = path.stat().st_size
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{spec}: not a GGUF file (it starts with {magic!r}, not b'GGUF')")
    try:
        end = _gguf_end(path)
    except Exception as exc:  # the reader's own errors on a cut or damaged header
        raise ModelError(
            f"{spec}: truncated or damaged GGUF file ({size:,} bytes; "
            f"{type(exc).__name__}: {first_line(exc)[:120]})"
        ) from None
    if size < end:
        raise ModelError(f"{spec}: truncated GGUF file: {size:,} of {end:,} bytes")
    return str(path.parent), {"gguf_file": path.name}


def _gguf_end(path: Path) -> int:
    """Where the last tensor of a GGUF file ends, in bytes, read from its header and tensor
    table alone (the tensors' data may be missing)."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader

    class _Header(GGUFReader):  # parses the header and tensor table, builds no tensor
        def _build_tensors(self, start: int, fields: list[Any]) -> None:
            self.tensor_end = start
            for field in fields:
                dims, raw_type, offset = field.parts[3], field.parts[4], field.parts[5]
                block, size = GGML_QUANT_SIZES[GGMLQuantizationType(raw_type[0])]
                n_bytes = int(np.prod(dims)) * size // block
                self.tensor_end = max(self.tensor_end, int(start + offset[0]) + n_bytes)

    return _Header(str(path)).tensor_end


def folder_source(spec: str) -> tuple[str, dict[str, Any]]:
    """A local model folder, or a hub id: where ``from_pretrained`` should look.

    Raises:
        ModelError: A local path that does not exist or is not a model folder, or a hub id
            that is neither cached nor reachable.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{spec}: not a model folder (no config.json in {path}); give a folder "
                f"saved by save_pretrained, a .gguf file, a hub id or a bundled model"
            )
        return str(path), {}
    if spec.startswith(LOCAL_PREFIXES) or path.exists():
        raise ModelError(f"{spec}: no such model folder")
    return spec, hub_access(spec)


def hub_access(repo: str) -> dict[str, Any]:
    """``from_pretrained`` options for hub id ``repo``: the local cache only when it holds
    the model or ``HF_HUB_OFFLINE`` is set; otherwise one short request must find it.

    Raises:
        ModelError: Offline and not cached, or the hub unreachable, or no such model.
    """
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = isinstance(try_to_load_from_cache(repo, "config.json"), str)
    except Exception:  # not a valid repo id
        raise ModelError(
            f"unknown model {repo!r}: not a bundled model, file, folder or hub id"
        ) from None
    if cached:
        return {"local_files_only": True}
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise ModelError(f"{repo}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    from huggingface_hub import model_info
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        model_info(repo, timeout=HUB_TIMEOUT)
    except RepositoryNotFoundError:
        raise ModelError(
            f"{repo}: no such model on the Hugging Face hub (or it is private)"
        ) from None
    except Exception as exc:  # connection refused, DNS, timeout, ...
        raise ModelError(
            f"{repo}: not in the local cache, and the Hugging Face hub could not be reached "
            f"({type(exc).__name__}: {first_line(exc)[:100]}); set HF_HUB_OFFLINE=1 to work "
            f"from the cache only"
        ) from None
    return {}
