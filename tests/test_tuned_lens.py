"""The tuned lens: untrained it is the logit lens, training lowers held-out KL, the last
layer is the model's output, the cache round-trips, and `layertracer lens train` works."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from layertracer import RunConfig, trace
from layertracer.config import LensConfig
from layertracer.errors import ConfigError
from layertracer.methods.particles import particles_for
from layertracer.methods.tuned_lens import cached_lens, lens_location, tuned_lens
from layertracer.methods.tuned_lens.measure import kl_bits
from layertracer.methods.tuned_lens.train import corpus_states
from layertracer.model.anatomy import discover
from layertracer.model.capture import capture_blocks, model_logprobs
from layertracer.model.lens import trajectories
from layertracer.model.lens_cache import fingerprint, lens_key
from layertracer.model.load import LoadedModel
from layertracer.model.tiny import checking_model
from layertracer.model.tuned import TunedLens, load_lens, save_lens
from layertracer.results.summary import summary_rows
from layertracer.run import SilentProgress
from layertracer.tasks.corpus import corpus_text, corpus_windows
from layertracer.tasks.text import special_prefix
from tests.conftest import run_cli, tiny

SMALL = LensConfig(kind="tuned", tokens=96, batch=16, heldout=64, window=32, lr=3e-3)


@pytest.fixture(scope="module")
def trainable() -> LoadedModel:
    """A tiny Llama built outside inference mode (``tiny()``'s may have been built inside
    one, and autograd cannot pass through inference-mode weights)."""
    with torch.inference_mode(False):
        return checking_model("llama", 0)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test trains into its own empty cache."""
    monkeypatch.setenv("LAYERTRACER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _batch(lm: object) -> tuple[torch.Tensor, ...]:
    enc = lm.tokenizer(
        ["The capital of France is", "Rome is the capital of"], return_tensors="pt", padding=True
    )
    ids, mask = enc["input_ids"], enc["attention_mask"]
    return ids, mask, mask.sum(1) - 1, torch.tensor([5, 9])


def _random_lens(num_layers: int, d: int) -> TunedLens:
    lens = TunedLens(num_layers, d)
    with torch.no_grad():
        lens.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
        lens.bias.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
    return lens


@torch.inference_mode()
@pytest.mark.parametrize("model_type", ["llama", "gemma2"])
def test_identity_initialised_translators_are_exactly_the_logit_lens(model_type: str) -> None:
    lm = tiny(model_type)
    anatomy = discover(lm.model, lm.tokenizer)
    ids, mask, last, targets = _batch(lm)
    with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
        lm.model(input_ids=ids, attention_mask=mask)
    lens = TunedLens(anatomy.num_layers, anatomy.hidden_size)
    logit = trajectories(anatomy, cap.states(), last, targets)
    tuned = trajectories(anatomy, cap.states(), last, targets, translate=lens.translate)
    assert torch.equal(logit.target_prob, tuned.target_prob)
    assert torch.equal(logit.topk_ids, tuned.topk_ids)
    states = torch.stack([s[0] for s in cap.states()])  # [L+1, seq, d]
    assert kl_bits(anatomy, states, lens) == kl_bits(anatomy, states)


@torch.inference_mode()
def test_last_layer_of_a_tuned_lens_is_the_models_output() -> None:
    lm = tiny("gemma2")  # an output soft-cap: the transform is part of the readout
    anatomy = discover(lm.model, lm.tokenizer)
    lens = _random_lens(anatomy.num_layers, anatomy.hidden_size)
    ids, mask, last, targets = _batch(lm)
    with capture_blocks(anatomy.blocks, anatomy.slot, keep_inputs=False) as cap:
        own = model_logprobs(lm.model, ids, mask, last)
    traj = trajectories(anatomy, cap.states(), last, targets, translate=lens.translate)
    torch.testing.assert_close(traj.final_logprobs, own, atol=1e-4, rtol=0)
    logit = trajectories(anatomy, cap.states(), last, targets)
    assert not torch.allclose(traj.target_prob[:, 0], logit.target_prob[:, 0])  # it did act
    states = torch.stack([s[0] for s in cap.states()])
    assert kl_bits(anatomy, states, lens)[-1] == pytest.approx(0.0, abs=1e-6)


def test_training_lowers_held_out_kl_on_a_tiny_model(trainable: LoadedModel) -> None:
    lm = trainable
    anatomy = discover(lm.model, lm.tokenizer)
    lens, meta = tuned_lens(lm, anatomy, SMALL, SilentProgress().stage)
    logit, tuned = meta["kl_bits"]["logit"], meta["kl_bits"]["tuned"]
    L = anatomy.num_layers
    assert len(logit) == len(tuned) == L + 1
    assert logit[L] == pytest.approx(0.0, abs=1e-6) and tuned[L] == pytest.approx(0.0, abs=1e-6)
    assert all(t < g for t, g in zip(tuned[:L], logit[:L], strict=True)), (logit, tuned)
    # recomputed independently from the held-out states
    windows = corpus_windows(lm.tokenizer, "heldout", SMALL.heldout, SMALL.window)
    with torch.no_grad():
        states = corpus_states(lm, anatomy, windows, lambda: None)
    assert states.shape[1] == SMALL.heldout == meta["positions"]["heldout"]
    again = kl_bits(anatomy, states, lens)
    assert again == pytest.approx(tuned, rel=1e-4, abs=1e-7)
    assert meta["loss_nats"]["last"] < meta["loss_nats"]["first"]


def test_cache_round_trip_and_keys(cache: Path, tmp_path: Path, trainable: LoadedModel) -> None:
    lens = _random_lens(3, 8)
    save_lens(lens, tmp_path / "saved", {"note": "x"})
    back, meta = load_lens(tmp_path / "saved")
    assert torch.equal(back.weight, lens.weight) and torch.equal(back.bias, lens.bias)
    assert meta == {"note": "x"}
    assert b"pickle" not in (tmp_path / "saved" / "tuned-lens.safetensors").read_bytes()[:200]

    lm = trainable
    anatomy = discover(lm.model, lm.tokenizer)
    assert cached_lens(lm, SMALL) is None
    trained, _ = tuned_lens(lm, anatomy, SMALL, SilentProgress().stage)
    calls: list[str] = []

    def stage(name: str, total: int) -> object:
        calls.append(name)
        return SilentProgress().stage(name, total)

    again, meta = tuned_lens(lm, anatomy, SMALL, stage)
    assert calls == []  # read from the cache, not trained again
    assert torch.equal(again.weight, trained.weight)
    key, folder = lens_location(lm, SMALL)
    assert meta["key"] == key and Path(meta["folder"]) == folder and folder.parent.parent == cache
    other = lens_key(fingerprint(checking_model("llama", 1).model), SMALL.training(), "c")
    assert len({key, other, lens_key(fingerprint(lm.model), SMALL.training(), "c")}) == 3
    assert lens_location(lm, replace(SMALL, kind="logit"))[0] == key  # kind is not training
    assert lens_location(lm, replace(SMALL, lr=1e-2))[0] != key


def test_a_tuned_lens_run_reads_the_logit_particles_beside_its_own(
    small_task: object, trainable: LoadedModel
) -> None:
    lm = trainable
    config = RunConfig(methods=("lens", "particles"), lens=SMALL)
    tuned = trace(lm, small_task, config)
    logit = trace(lm, small_task, replace(config, lens=replace(SMALL, kind="logit")))
    assert tuned.lens["kind"] == "tuned" and tuned.lens["other"] == "logit"
    assert logit.lens["other"] == "tuned"  # the lens the first run cached
    assert tuned.lens["kl_bits"] == logit.lens["kl_bits"]
    curves = [row.target_prob for row in logit.prompts]
    expect = particles_for(curves, config.particles)
    assert [row.particle_layer_other for row in tuned.prompts] == expect
    assert [row.particle_layer for row in logit.prompts] == expect
    assert [row.particle_layer_other for row in logit.prompts] == [
        row.particle_layer for row in tuned.prompts
    ]
    assert tuned.particles["lens"] == "tuned" and tuned.particles["other_lens"]["lens"] == "logit"
    assert tuned.particles["other_lens"]["none_fraction"] == logit.particles["none_fraction"]
    rows = {row.measure: row.value for row in summary_rows(tuned.to_dict())}
    other = tuned.particles["other_lens"]
    expect_none = f"none {other['none_fraction']:.0%}"
    assert expect_none in rows["  … under the logit lens (this run: tuned)"]
    for a, b in zip(tuned.prompts, logit.prompts, strict=True):  # same last layer
        assert a.target_prob[-1] == pytest.approx(b.target_prob[-1], abs=1e-6)


def test_a_logit_run_trains_nothing(small_task: object, cache: Path) -> None:
    results = trace(tiny("llama"), small_task, RunConfig(methods=("lens",), lens=LensConfig()))
    assert results.lens["other"] is None and results.lens.get("kl_bits") is None
    assert not cache.exists()


def test_lens_train_command(capsys: pytest.CaptureFixture) -> None:
    args = ["lens", "train", "--model", "tiny:llama", "--lens-tokens", "64", "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    meta = json.loads(out)
    assert len(meta["kl_bits"]["tuned"]) == len(meta["kl_bits"]["logit"]) == 5  # tiny: L = 4
    assert meta["training"]["tokens"] == 64 and "training it once" in err
    assert all(math.isfinite(x) for x in meta["kl_bits"]["tuned"])
    code, out, err = run_cli(args[:-1], capsys)  # cached now: a table, no training
    assert code == 0 and "held-out KL" in out and "training it once" not in err


def test_bad_lens_options_fail_before_a_model_loads() -> None:
    with pytest.raises(ConfigError, match="--lens"):
        LensConfig(kind="tunned")
    with pytest.raises(ConfigError, match="--lens-tokens"):
        LensConfig(tokens=4, batch=32)


def test_lens_figure_only_with_both_curves() -> None:
    from layertracer.report.lens_figure import lens_kl

    data = {
        "model": {"num_layers": 2, "layer_types": ["attention"] * 2, "spec": "m"},
        "task": {"name": "t"},
        "lens": {"kind": "tuned", "kl_bits": {"logit": [30.0, 2.0, 0.0], "tuned": [3.0, 1.0, 0.0]}},
        "prompts": [],
    }
    fig = lens_kl(data)
    assert fig is not None
    lines = fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines[:2]] == [[30.0, 2.0, 0.0], [3.0, 1.0, 0.0]]
    assert lines[1].get_linewidth() > lines[0].get_linewidth()  # the run's own lens
    data["lens"] = {"kind": "logit"}
    assert lens_kl(data) is None


def test_corpus_windows_hold_exactly_the_first_tokens_of_the_text() -> None:
    tokenizer = tiny("llama").tokenizer
    windows = corpus_windows(tokenizer, "train", 100, 32)
    ids = tokenizer(corpus_text("train"), add_special_tokens=False)["input_ids"]
    assert windows.input_ids[windows.text_mask].tolist() == ids[:100]
    prefix = special_prefix(tokenizer)
    assert windows.input_ids.shape == (4, len(prefix) + 32)  # 32 + 32 + 32 + 4
    assert not windows.text_mask[:, : len(prefix)].any()
    assert corpus_text("heldout")[:200] not in corpus_text("train")
    with pytest.raises(ConfigError, match="lower --lens-tokens"):
        corpus_windows(tokenizer, "heldout", len(ids) * 10, 32)
