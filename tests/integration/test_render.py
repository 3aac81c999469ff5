"""The rendered Asterisk configuration: a production render has no bench or test numbers; the
bench's native menu is rendered only into the bench's own instance. Pure file rendering (no
Asterisk needed); it sits beside the sandbox tests that start Asterisk on such renders."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from asterisk_conf.render import ExtraDialplan, RenderError, render_texts
from bench.voice.instance import native_dialplan
from bench.voice.plan import BENCH_MODULES, NATIVE_CONTEXT, NATIVE_DID
from cti.app.cli import main as hotline
from cti.app.config import Config
from cti.app.sandbox import agi_settings, render_instance

FILES = {"menu_file": "/p/menu", "code_file": "/p/code", "result_file": "/p/result"}


def _cfg(tmp_path: Path) -> Config:
    cfg = Config(data_dir=str(tmp_path / "data"), secret_key="k" * 32)
    return replace(cfg, asterisk=replace(cfg.asterisk, ami_secret="s" * 24))


def _texts(cfg: Config, **kw: object) -> dict[str, str]:
    return render_texts(cfg.asterisk, instance="main", fastagi_host=cfg.fastagi.host,
                        fastagi_port=cfg.fastagi.port, agi_settings=agi_settings(cfg),
                        **kw)  # type: ignore[arg-type]


def _no_bench_or_test_numbers(texts: dict[str, str]) -> None:
    ext, modules = texts["extensions.conf"], texts["modules.conf"]
    assert NATIVE_DID not in ext
    assert "bench" not in ext.lower() and "native-menu" not in ext
    assert "hotline-test-dtmf" not in ext and "Echo()" not in ext and "_77XXXXX" not in ext
    assert not any(m in modules for m in BENCH_MODULES)


def test_a_default_render_has_no_bench_menu(tmp_path: Path) -> None:
    texts = _texts(_cfg(tmp_path))
    _no_bench_or_test_numbers(texts)
    assert "exten => 4008001234,1," in texts["extensions.conf"]  # the configured DID


def test_the_render_command_writes_a_production_config(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "hotline.toml"
    toml.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    for key in [k for k in os.environ if k.startswith("HOTLINE_")]:
        monkeypatch.delenv(key)
    out = tmp_path / "etc"
    assert hotline(["--config", str(toml), "asterisk", "render", "--out", str(out)]) == 0
    texts = {p.name: p.read_text() for p in out.iterdir()}
    assert {"asterisk.conf", "extensions.conf", "pjsip.conf", "hotline-agi.toml"} <= set(texts)
    _no_bench_or_test_numbers(texts)


def test_the_bench_menu_is_rendered_only_when_the_bench_asks(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    texts = _texts(cfg, extra_dialplan=native_dialplan(FILES, "http://127.0.0.1:17081"))
    ext = texts["extensions.conf"]
    assert f"exten => {NATIVE_DID},1,Goto({NATIVE_CONTEXT},s,1)" in ext
    assert f"[{NATIVE_CONTEXT}]" in ext and "Read(KEY,/p/menu,1,,1,5)" in ext
    assert all(f"load = {m}" in texts["modules.conf"] for m in BENCH_MODULES)
    assert "@{menu_file}" not in ext and "@{backend_url}" not in ext


@pytest.mark.parametrize(("extra", "why"), [
    (ExtraDialplan("4008001234", "x", "[x]\n"), "already a number"),
    (ExtraDialplan("94008001234", "x", "[x]\n"), "already a number"),
    (ExtraDialplan("4008009999", "x", "[y]\n"), "does not define"),
    (ExtraDialplan("4008009999", "x", "[x]\n[hotline-after-flow]\n"), "Hotline's own"),
    (ExtraDialplan("4008009999", "x", "[x]\n", ("../evil.so",)), "module file names"),
])
def test_an_extra_dialplan_cannot_touch_hotlines_own(tmp_path: Path, extra: ExtraDialplan,
                                                     why: str) -> None:
    with pytest.raises(RenderError, match=why):
        _texts(_cfg(tmp_path), extra_dialplan=extra)


def test_a_bad_value_is_a_configuration_error(tmp_path: Path) -> None:
    from cti.app.config import ConfigError

    cfg = _cfg(tmp_path)
    bad = replace(cfg, asterisk=replace(cfg.asterisk, dids={"40080012x4": "demo_400"}))
    with pytest.raises(ConfigError, match="not a DID"):
        render_instance(bad, tmp_path / "etc", instance="main")
