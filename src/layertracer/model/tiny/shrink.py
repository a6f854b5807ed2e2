"""Shrink any ``transformers`` config to a tiny one, by key name.

The rules are data: :data:`RULES` maps key-name patterns to tiny sizes, and a few
derived rules keep the sizes consistent (MLA, Mamba-2 heads, widths kept in ratio to
the hidden size, per-layer patterns, special token ids). They apply to every nested
(sub)config dict, so no rule names a model type (see ARCHITECTURES.md, "Tiny-config
shrinking"). The entry point is :func:`shrink_config`.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any, TypedDict, TypeGuard

HIDDEN, LAYERS, HEAD_DIM = 64, 4, 16
VOCAB = 1000

# fmt: off
LAYER_KEYS = (r"^(num_hidden_layers|n_layers?|num_layers|num_blocks|(num_)?(en|de)coder_layers|"
              r"num_layers_per_stack)$")
# (pattern on the key name, tiny value, how): "set" replaces the value, "min" only shrinks
# it (so MQA's 1 kv head, top-1 routing or a disabled shared expert of size 0 stay). The
# first matching pattern wins; a list of ints is shrunk element by element.
RULES: list[tuple[str, int, str]] = [
    (r"^(hidden_size|n_embd|d_model|dim|model_dim|emb_dim|embedding_dim)$", HIDDEN, "set"),
    # "set", not "min": encoder and decoder stacks must agree (blenderbot sizes its cache
    # from the encoder count and runs the decoder).
    (LAYER_KEYS, LAYERS, "set"),
    (r"^(num_attention_heads|n_heads?|num_heads|attention_heads|(num_)?(en|de)coder_attention"
     r"_heads|swa_num_attention_heads|linear_num_(value_)?heads|index(er)?_n_heads)$", 4, "set"),
    (r"^(num_key_value_heads|num_kv_heads|n_kv_heads|kv_n_heads|swa_num_key_value_heads|"
     r"multi_query_group_num|num_query_groups|linear_num_key_heads|indexer_kv_heads)$", 2, "min"),
    (r"^(head_dim|d_head|dim_head|d_kv|kv_channels|attention_head_size|swa_head_dim|"
     r"linear_(key_|value_)?head_dim|index(er)?_head_dim|v_head_dim|qk_(nope|rope)_head_dim|"
     r"mamba_d_head|mamba_head_dim|mamba_headdim)$", HEAD_DIM, "set"),
    (r"(intermediate_size|ffn_dim|ffn_hidden_size|^d_ff|^n_inner|^d_inner|^dim_ff|^dff|"
     r"^mlp_dim)$", 128, "min"),
    (r"^(num_experts|num_local_experts|n_routed_experts|moe_num_experts|zero_expert_num)$",
     8, "min"),
    (r"^(num_experts_per_tok|num_experts_per_token|moe_topk|moe_k|moe_top_k|top_k_experts)$",
     2, "min"),
    (r"^rotary_dim$", HEAD_DIM, "min"),
    # kv-sharing layers reuse the cache of an earlier layer of their kind: share only the
    # last one so the others still produce every kind (gemma3n).
    (r"^num_kv_shared_layers$", 1, "min"),
    (r"^(state_size|ssm_state_size|mamba_d_state|d_state)$", 16, "set"),
    (r"^(vocab_size|decoder_vocab_size|vocab_size_per_layer_input|unpadded_vocab_size)$",
     VOCAB, "set"),
    (r"(_vocab|vocab_size)$", VOCAB, "min"),  # extra embeddings (roc_bert), hash buckets (blt)
    (r"^(kv_lora_rank|q_lora_rank|o_lora_rank)$", 32, "min"),
    (r"^(n_groups?|num_expert_group|mamba_n_groups|mamba_ngroups|o_groups)$", 2, "min"),
    (r"^(chunk_size|mamba_chunk_size)$", 16, "min"),  # Mamba-2 scan chunks: tiny prompts
    (r"^(time_step_rank|mamba_dt_rank|dt_rank)$", math.ceil(HIDDEN / 16), "set"),
    # Layer patterns "every n-th layer": at most 2 so 4 layers still hold each kind twice.
    (r"(_period|_interval|_every_n_layers|sliding_window_pattern|_step|layer_group_size|"
     r"n_layers_per_attn_res_block)$", 2, "min"),
    (r"^(first_k_dense_replace|num_dense_layers)$", 1, "min"),  # keep MoE layers in 4
]
# ``None`` defaults to fill (the model would otherwise derive them from the shrunk sizes
# in ways the other rules cannot see, or fail on ``None``).
NONE_DEFAULTS: dict[str, Any] = {
    "head_dim": HEAD_DIM, "num_key_value_heads": 2, "n_inner": 128, "intermediate_size": 128,
    "moe_intermediate_size": 128, "num_experts_per_tok": 2,
    "n_routed_experts": 8, "n_shared_experts": 1,  # dots1: MoE in every layer, sizes None
    "attn_layer_indices": [2, 3],  # bamba: None means no attention layer, i.e. no hybrid
}
# Exceptions the key-name rules cannot decide: fixed values, each with its reason.
FIXED: dict[str, Any] = {
    # xLSTM's config rounds hidden·qk_dim_factor up to a multiple of 64 but its model does
    # not; with hidden 64 only a factor of 1 keeps the two consistent.
    "qk_dim_factor": 1.0,
    "is_decoder": True,  # BERT-style LM heads are causal only as decoders
}
# Widths defined relative to the hidden size: keep the ratio (ints, or lists of ints).
RATIO_KEYS = re.compile(r"^(lru_width|attention_hidden_size|embedding_size|input_embedding_size|"
                        r"output_embedding_size|word_embed_proj_dim|hidden_size_per_layer_input|"
                        r"backbone_hidden_size|hidden_size_global|ple_embed_dim|"
                        r"axial_pos_embds_dim)$")
# fmt: on
INDEX_LIST = re.compile(r"(layers|indexes|indices|idxs|layer_ids)$")
SPECIAL_ID = re.compile(r"(token_id|token_index|_token_ids)$")
_MAMBA_HEADS = ("mamba_n_heads", "mamba_num_heads", "n_mamba_heads")
_MAMBA_HEAD_DIM = ("mamba_d_head", "mamba_head_dim", "mamba_headdim")


Config = dict[str, Any]  # a config's to_dict() (or a nested part): heterogeneous JSON


class _Context(TypedDict, total=False):
    """Sizes of the enclosing config, for a nested config dict."""

    hidden: int
    layers: int
    head_ratio: float


def _first(d: Config, keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if k in d), None)


def _int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _hidden(d: Config) -> int | None:
    key = _first(d, ("hidden_size", "n_embd", "d_model", "dim", "model_dim", "emb_dim"))
    value = d.get(key) if key else None
    return value if _int(value) and value > 0 else None


def _layers(d: Config) -> int | None:
    key = _first(d, ("num_hidden_layers", "n_layer", "n_layers", "num_layers", "decoder_layers"))
    value = d.get(key) if key else None
    return value if _int(value) else None


def _head_dim(d: Config) -> int | None:
    """``head_dim``, or hidden / heads where it is left to the model."""
    head_dim = d.get("head_dim")
    if _int(head_dim):
        return head_dim
    heads, hidden = d.get("num_attention_heads"), _hidden(d)
    return hidden // heads if _int(heads) and heads > 0 and hidden else None


def _scalar_rules(d: Config) -> None:
    """Fill ``None`` defaults, apply :data:`RULES` and :data:`FIXED`."""
    for key, value in list(d.items()):
        if value is None and key in NONE_DEFAULTS:
            d[key] = NONE_DEFAULTS[key]
            continue
        if key in FIXED:
            d[key] = FIXED[key]
            continue
        rule = next((r for r in RULES if re.search(r[0], str(key))), None)
        if rule is None:
            continue
        _, tiny, how = rule
        if _int(value) and value > 0:
            d[key] = tiny if how == "set" else min(value, tiny)
        elif isinstance(value, list) and value and all(_int(v) for v in value):
            d[key] = [tiny if how == "set" else min(v, tiny) for v in value]


def select_layers(features: list[tuple[object, ...]], keep: int = LAYERS) -> list[int]:
    """Indices of ``keep`` layers, in order, holding every kind twice where possible.

    ``features[i]`` lists layer ``i``'s kind in each per-layer pattern. Greedy: take the
    layer adding the most kinds still seen fewer than twice, the earliest on ties. So
    ``[(lin,), (lin,), (lin,), (full,)] * 12`` gives ``[0, 1, 3, 7]``: lin, lin, full, full.
    """
    chosen: list[int] = []
    seen: dict[tuple[int, Any], int] = {}
    for _ in range(min(keep, len(features))):

        def gain(i: int) -> int:
            return sum(seen.get((j, f), 0) < 2 for j, f in enumerate(features[i]))

        best = max(
            (i for i in range(len(features)) if i not in chosen), key=lambda i: (gain(i), -i)
        )
        chosen.append(best)
        for j, f in enumerate(features[best]):
            seen[(j, f)] = seen.get((j, f), 0) + 1
    return sorted(chosen)


def _is_index_list(key: str, value: Any, n: int) -> bool:
    """A strictly increasing list of layer indices (``full_attn_idxs``, ``moe_layers``)."""
    if not (INDEX_LIST.search(key) and isinstance(value, list) and value):
        return False
    if not all(_int(v) for v in value):
        return False
    return all(b > a for a, b in itertools.pairwise(value)) and value[-1] < n


def _is_layer_dict(value: Any, n: int) -> bool:
    """A dict keyed by layer index (``per_layer_config``: ``{"05": {...}}``)."""
    if not (isinstance(value, dict) and value):
        return False
    return all(str(k).isdigit() and int(k) < n and isinstance(v, dict) for k, v in value.items())


def _is_pattern(value: Any, n: int) -> bool:
    """One scalar per layer (``layer_types``, ``mlp_layer_types``, ``no_rope_layers``)."""
    return (
        isinstance(value, list)
        and len(value) == n
        and not any(isinstance(x, (dict, list)) for x in value)
    )


def _per_layer_lists(d: Config, n: int) -> None:
    """Keep :data:`LAYERS` layers of every per-layer list, index list and layer dict."""
    index_keys = [k for k, v in d.items() if _is_index_list(str(k), v, n)]
    dict_keys = [k for k, v in d.items() if _is_layer_dict(v, n)]
    pattern_keys = [k for k, v in d.items() if k not in index_keys and _is_pattern(v, n)]
    if not (index_keys or pattern_keys or dict_keys):
        return
    members = {k: {int(i) for i in d[k]} for k in index_keys + dict_keys}
    kinds = [
        tuple(d[k][i] for k in pattern_keys if len(set(d[k])) < n)
        + tuple(i in members[k] for k in members)
        for i in range(n)
    ]
    chosen = select_layers(kinds)
    for k in pattern_keys:
        d[k] = [d[k][i] for i in chosen]
    for k in index_keys:
        d[k] = [new for new, old in enumerate(chosen) if old in members[k]]
    for k in dict_keys:
        width = len(str(next(iter(d[k]))))
        by_layer = {int(i): v for i, v in d[k].items()}
        d[k] = {
            str(new).zfill(width): by_layer[old]
            for new, old in enumerate(chosen)
            if old in by_layer
        }


def _derived(d: Config, orig: Config, ctx: _Context) -> None:
    """Rules that keep sizes consistent with each other after :func:`_scalar_rules`."""
    if "kv_lora_rank" in d:  # MLA: the rope part is the head_dim, a kv head per query head
        if "head_dim" in d:
            d["head_dim"] = d.get("qk_rope_head_dim", HEAD_DIM)
        if "num_key_value_heads" in d and "num_attention_heads" in d:
            d["num_key_value_heads"] = d["num_attention_heads"]
    if "qk_head_dim" in d and "qk_nope_head_dim" in d:
        d["qk_head_dim"] = d["qk_nope_head_dim"] + d.get("qk_rope_head_dim", 0)
    groups = _first(d, ("n_group", "num_expert_group"))
    if groups and _int(d.get("topk_group")) and _int(d[groups]):  # pick at most all groups
        d["topk_group"] = min(d["topk_group"], d[groups])
    _mamba2_heads(d)
    _layer_counts(d, orig)
    _ratios(d, orig, _hidden(orig) or ctx.get("hidden"))
    if "attention_head_dim" in d and "attention_hidden_size" in d:
        d["attention_head_dim"] = d["attention_hidden_size"] // d["num_attention_heads"]
    for key in [k for k in d if str(k).endswith("_offset")]:
        period = d.get(str(key).removesuffix("_offset") + "_period")
        if _int(period) and _int(d[key]) and period > 0:
            d[key] = d[key] % period
    if isinstance(d.get("mrope_section"), list) and ctx.get("head_ratio"):
        d["mrope_section"] = _scale_sections(d["mrope_section"], ctx["head_ratio"])


def _layer_counts(d: Config, orig: Config) -> None:
    """Other layer counts keep their ratio to ``num_hidden_layers`` (longcat: 2 per layer)."""
    n = orig.get("num_hidden_layers")
    if not (_int(n) and n > 0):
        return
    for key in [k for k in d if k != "num_hidden_layers" and re.match(LAYER_KEYS, str(k))]:
        if _int(orig[key]) and orig[key] != n:
            d[key] = max(1, min(LAYERS, round(orig[key] * d["num_hidden_layers"] / n)))


def scale_layer_counts(d: Config, factor: float) -> None:
    """Multiply every layer count in ``d`` by ``factor`` (for a derived layer count)."""
    for key in [k for k in d if re.match(LAYER_KEYS, str(k)) and _int(d[k])]:
        d[key] = max(1, int(d[key] * factor))


def _ratios(d: Config, orig: Config, hidden: int | None) -> None:
    """Widths of :data:`RATIO_KEYS` keep their ratio to the hidden size."""
    if not hidden:
        return
    scale = (_hidden(d) or HIDDEN) / hidden
    for key in [k for k in d if RATIO_KEYS.match(str(k))]:
        if _int(orig[key]):
            d[key] = max(1, round(orig[key] * scale))
        elif isinstance(orig[key], list) and all(_int(v) for v in orig[key]):
            d[key] = [max(1, round(v * scale)) for v in orig[key]]


def _mamba2_heads(d: Config) -> None:
    """Mamba-2 mixers need ``n_heads * head_dim == expand * hidden``."""
    heads = _first(d, _MAMBA_HEADS)
    if heads is None and "num_heads" in d and "expand" in d and "state_size" in d:
        heads = "num_heads"
    head_dim = _first(d, _MAMBA_HEAD_DIM) or ("head_dim" if heads == "num_heads" else None)
    expand = d.get("mamba_expand", d.get("expand"))
    if heads and head_dim and _int(expand):
        d[heads] = expand * (_hidden(d) or HIDDEN) // d[head_dim]
        if "mamba_d_ssm" in d:
            d["mamba_d_ssm"] = d[heads] * d[head_dim]


def _scale_sections(sections: list[int], ratio: float) -> list[int]:
    """Scale ``mrope_section`` by the head_dim ratio (sum = new rotary dim / 2)."""
    exact = [s * ratio for s in sections]
    out = [math.floor(x) for x in exact]
    short = round(sum(exact)) - sum(out)
    for i in sorted(range(len(out)), key=lambda i: out[i] - exact[i])[:short]:
        out[i] += 1
    return out


def _special_ids(d: Config, ids: dict[str, int], vocab: int) -> None:
    """bos/eos/pad take the tokenizer's ids; any other special id >= vocab becomes unk."""
    for key, value in list(d.items()):
        name = str(key)
        if not SPECIAL_ID.search(name) or value is None:
            continue
        role = next((r for r in ("pad", "bos", "eos") if name.startswith(r)), None)

        def fix(v: int, role: str | None = role) -> int:
            return ids[role] if role else (v if v < vocab else ids["unk"])

        if _int(value):
            d[key] = fix(value)
        elif isinstance(value, list) and all(_int(v) for v in value):
            d[key] = sorted({fix(v) for v in value})


def shrink_config(d: Config, ids: dict[str, int], ctx: _Context | None = None) -> Config:
    """Return a tiny copy of a config dict (and of every nested config dict).

    Args:
        d: ``PretrainedConfig.to_dict()`` output (or a nested part of it).
        ids: The tokenizer's special token ids: ``bos``, ``eos``, ``pad``, ``unk``.
        ctx: Sizes of the enclosing config (hidden size, layer count, head_dim ratio),
            for nested dicts such as ``rope_parameters``.

    Returns:
        The shrunk dict; ``d`` is not modified.
    """
    ctx = ctx.copy() if ctx else _Context()
    orig, d = d, dict(d)
    n = _layers(orig) or ctx.get("layers")
    if n and n > LAYERS:
        _per_layer_lists(d, n)
    _scalar_rules(d)
    _derived(d, orig, ctx)
    _special_ids(d, ids, d.get("vocab_size") or VOCAB)
    hidden, head_dim, orig_head_dim = _hidden(orig), _head_dim(d), _head_dim(orig)
    if hidden:
        ctx["hidden"] = hidden
    if n:
        ctx["layers"] = n
    if orig_head_dim and head_dim:
        ctx["head_ratio"] = head_dim / orig_head_dim
    for key, value in d.items():
        if isinstance(value, dict):
            d[key] = shrink_config(value, ids, ctx)
    return d
