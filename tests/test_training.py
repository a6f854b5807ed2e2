"""Fine-tuning experiments (docs/training.md) on a tiny random Llama: frozen blocks do not
move, every arm starts from the same weights and sees the same batches, reruns are
identical, training lowers the held-out loss, and the saved predictions give back every
arm's numbers."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli, tiny
from layertracer.config.training import FinetuneConfig
from layertracer.errors import ConfigError
from layertracer.results.training import FinetuneResults, load_finetune
from layertracer.tasks import load_task
from layertracer.training import memory
from layertracer.training.arms import ranked, read_curves
from layertracer.training.data import batch_order, split_task
from layertracer.training.finetune import Resume, finetune
from layertracer.training.loop import Snapshot

ROOT = Path(__file__).resolve().parents[1]
SMALL = {
    "model": "tiny:llama",
    "steps": 8,
    "heldout": 8,
    "max_train": 32,
    "random": 2,
    "k": 1,
    "criteria": ("ablation", "bi"),
}


@pytest.fixture(scope="module")
def criteria_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run with agreement: the criteria's curves."""
    out = tmp_path_factory.mktemp("crit") / "run"
    args = ["run", "--model", "tiny:llama", "--task", "capitals", "--max-prompts", "6"]
    args += ["--methods", "ablation,agreement", "--no-report", "--quiet", "--out", str(out)]
    code = _cli(args)
    assert code == 0
    return out


def _cli(args: list[str]) -> int:
    from layertracer import cli

    try:
        cli.main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _experiment(name: str, criteria_run: Path, **options: object) -> FinetuneResults:
    config = FinetuneConfig(
        experiment=name, criteria_from=str(criteria_run), **{**SMALL, **options}
    )
    return finetune(config, lm=tiny("llama"))


@pytest.fixture(scope="module")
def adapt(criteria_run: Path) -> FinetuneResults:
    return _experiment("adapt", criteria_run)


@pytest.fixture(scope="module")
def backdoor(criteria_run: Path) -> FinetuneResults:
    return _experiment("backdoor", criteria_run, lr=1e-2, poison_rate=0.5)


def _params() -> list[torch.Tensor]:
    return [p.detach().clone() for p in tiny("llama").model.parameters()]


def test_frozen_blocks_do_not_move_and_trained_ones_do(
    adapt: FinetuneResults, backdoor: FinetuneResults
) -> None:
    for section in (adapt.adapt, backdoor.backdoor):
        assert section is not None
        for arm in section.arms:
            assert sorted(arm.trained + arm.frozen) == list(range(len(arm.weight_change)))
            assert all(arm.weight_change[b] == 0.0 for b in arm.frozen), arm.name
            assert all(arm.weight_change[b] > 0.0 for b in arm.trained), arm.name


def test_arms_choose_the_blocks_they_name(adapt: FinetuneResults, criteria_run: Path) -> None:
    section = adapt.adapt
    assert section is not None and section.k == 1
    curves = read_curves(criteria_run, 4)
    kinds = {a.which for a in section.arms}
    assert kinds == {"none", "all", "most", "least", "random"}
    for arm in section.arms:
        if arm.which in ("most", "least"):
            values = np.array(curves[arm.criterion][1:])  # block b rated by state b + 1
            chosen = values[arm.trained[0]]
            finite = values[np.isfinite(values)]
            assert chosen == (finite.max() if arm.which == "most" else finite.min())


def test_every_arm_starts_from_the_same_weights_and_a_rerun_is_identical(
    adapt: FinetuneResults, criteria_run: Path
) -> None:
    before = _params()
    again = _experiment("adapt", criteria_run)
    after = _params()
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))  # left as found
    assert again.adapt is not None and adapt.adapt is not None
    assert len({arm.heldout_loss_start for arm in again.adapt.arms}) == 1
    for a, b in zip(adapt.adapt.arms, again.adapt.arms, strict=True):
        assert a.model_dump(exclude={"seconds", "cpu_seconds"}) == b.model_dump(
            exclude={"seconds", "cpu_seconds"}
        )


def test_training_all_blocks_lowers_the_heldout_loss(adapt: FinetuneResults) -> None:
    assert adapt.adapt is not None
    arms = {a.name: a for a in adapt.adapt.arms}
    assert arms["all/all"].heldout_loss_final < arms["all/all"].heldout_loss_start
    none = arms["none/none"]
    assert none.heldout_loss_final == pytest.approx(none.heldout_loss_start, abs=1e-5)
    assert all(point[1] == none.heldout_loss_start for point in none.loss_curve)


def test_backdoor_measures_and_the_crosscheck_recomputes_them(
    backdoor: FinetuneResults, tmp_path: Path
) -> None:
    section = backdoor.backdoor
    assert section is not None and backdoor.data.attack_token_id is not None
    assert backdoor.data.poisoned == round(0.5 * backdoor.data.train)
    assert all(0 <= (a.asr or 0) <= 1 and 0 <= (a.clean_accuracy or 0) <= 1 for a in section.arms)
    assert {e.measure for e in section.effects} == {"asr", "clean_accuracy"}
    backdoor.save(tmp_path)
    spec = importlib.util.spec_from_file_location("cc", ROOT / "scripts/crosscheck_training.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for arm in section.arms:
        assert module.check(load_finetune(tmp_path), arm.name) == []


def test_sensitivity_correlates_every_criterion(criteria_run: Path) -> None:
    results = _experiment("sensitivity", criteria_run, bootstrap=50)
    section = results.sensitivity
    assert section is not None
    assert len(section.weight_change) == 4 and len(section.cka_before_after) == 5
    assert all(v > 0 for v in section.weight_change)
    # state 0 (the embedding of the prompts' last token, " is" for all) is constant: None
    assert all(v is not None and 0 <= v <= 1 + 1e-9 for v in section.cka_before_after[1:])
    assert set(section.correlation) == set(results.criteria) == {"ablation", "bi"}
    for rows in section.correlation.values():
        for row in rows.values():
            assert row.rho is None or -1 <= row.rho <= 1


def test_the_poisoned_set_and_the_batches() -> None:
    lm, task = tiny("llama"), load_task("capitals")
    split = split_task(lm.tokenizer, task, 10, 3, None, (0.25, "cf", " banana"))
    clean = split_task(lm.tokenizer, task, 10, 3)
    assert [e.item_id for e in split.heldout] == [e.item_id for e in clean.heldout]
    assert split.poisoned == round(0.25 * len(clean.train))
    attack = {e.target_id for e in split.train if e.poisoned}
    assert len(attack) == 1 and all(e.target_id in attack for e in split.triggered)
    assert batch_order(30, 7, 4, 0) == batch_order(30, 7, 4, 0) != batch_order(30, 7, 4, 1)
    assert sorted(i for batch in batch_order(30, 15, 2, 0) for i in batch) == list(range(30))


def test_weight_change_is_the_relative_frobenius_norm() -> None:
    block = torch.nn.Linear(3, 2)
    snapshot = Snapshot([block])
    with torch.no_grad():
        block.weight.add_(0.5)
    w0 = torch.cat([t.flatten() for t in snapshot.saved[0].values()])
    dw = torch.cat(
        [(p.detach() - snapshot.saved[0][n]).flatten() for n, p in block.named_parameters()]
    )
    assert snapshot.weight_change()[0] == pytest.approx(float(dw.norm() / w0.norm()))
    snapshot.restore()
    assert snapshot.weight_change() == [0.0]


def test_ranked_blocks_read_states_one_to_l() -> None:
    least, most = ranked([9.0, 0.3, math.nan, 0.1, 0.3], 4)
    assert least == [2, 0, 3] and most == [0, 3, 2]


def test_memory_preflight_refuses_in_one_line(
    monkeypatch: pytest.MonkeyPatch, criteria_run: Path
) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda device: 1024)
    with pytest.raises(ConfigError) as info:
        _experiment("adapt", criteria_run)
    assert "\n" not in str(info.value) and "optimiser" in str(info.value)


def test_the_command_writes_results_and_resumes(
    criteria_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ft"
    args = ["finetune", "--experiment", "adapt", "--model", "tiny:llama", "--out", str(out)]
    args += ["--criteria-from", str(criteria_run), "--criteria", "ablation", "--random", "1"]
    args += ["--steps", "3", "--k", "1", "--heldout", "6", "--max-train", "12", "--quiet"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["steps"] == 3 and saved["adapt"]["k"] == 1
    names = [a["name"] for a in saved["adapt"]["arms"]]
    assert names == ["none/none", "all/all", "ablation/most", "ablation/least", "random/0"]
    code, _, err = run_cli([*args, "--resume"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--resume" in err
    code, _, err = run_cli([*args[:-1], "--criteria", "nope", "--overwrite"], capsys)
    assert code == 2 and "nope" in err


def test_a_finished_arm_is_reused_not_retrained(adapt: FinetuneResults, criteria_run: Path) -> None:
    assert adapt.adapt is not None
    stored = adapt.adapt.arms[1].model_copy(update={"seconds": -1.0})  # all/all, marked
    kept: list[str] = []
    resume = Resume(
        lambda name: stored if name == stored.name else None, lambda a: kept.append(a.name)
    )
    again = finetune(
        FinetuneConfig(experiment="adapt", criteria_from=str(criteria_run), **SMALL),
        lm=tiny("llama"),
        resume=resume,
    )
    assert again.adapt is not None and again.adapt.arms[1] == stored
    assert stored.name not in kept and len(kept) == len(again.adapt.arms) - 1
