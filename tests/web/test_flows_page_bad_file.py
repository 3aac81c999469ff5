"""One hostile or broken file in the flows folder does not take the console's flows page down:
the page lists every other flow and shows that file's located error."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

BOMB = "flow: bomb\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n"
DEMO = Path(__file__).resolve().parents[2] / "ivr_flows" / "flows" / "demo_400.yaml"
HOSTILE = {
    # file -> (its content, what the page must say about it)
    "bomb.yaml": (BOMB, "bomb.yaml:2: anchors and aliases (&amp;name, *name) are not allowed"),
    "deep.yaml": ("[" * 900, "deep.yaml:1: lists and mappings nest more than 50 levels deep"),
    "selfref.yaml": ("flow: loop\nnodes: &n {a: *n}\n", "selfref.yaml:2: anchors and aliases"),
    "mars.yaml": (DEMO.read_text(encoding="utf-8").replace("flow: demo_400", "flow: mars")
                  .replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus"),
                  "unknown time zone &#39;Mars/Olympus&#39;"),
}


@pytest.fixture
def hostile_flows(flows_dir: Path) -> Path:
    for name, (text, _said) in HOSTILE.items():
        (flows_dir / name).write_text(text, encoding="utf-8")
    return flows_dir


def card(body: str, slug: str) -> str:
    assert f'id="flow-{slug}"' in body, f"{slug} is not listed"
    return body.split(f'id="flow-{slug}"', 1)[1].split("</li>\n", 1)[0]


def test_the_flows_page_lists_the_other_flows_and_each_bad_file_with_its_error(
        hostile_flows: Path, logged_in: FlaskClient) -> None:
    assert "timezone: Asia/Shanghai" in DEMO.read_text(encoding="utf-8")  # mars.yaml's premise
    resp = logged_in.get("/flows")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert '<p class="status ok">valid · ' in card(body, "demo_400")
    assert "invalid" in card(body, "broken")  # the folder's usual broken file, still shown
    for name, (_text, said) in HOSTILE.items():
        bad = card(body, name.removesuffix(".yaml"))
        assert '<p class="status bad">invalid · 1 problem</p>' in bad, name
        assert said in bad, (name, bad)
    assert str(hostile_flows) not in body  # file names, never the server's paths


@pytest.mark.parametrize("slug", ["bomb", "deep", "selfref", "mars"])
def test_a_bad_file_has_a_detail_page_with_its_error_and_no_picture(
        hostile_flows: Path, logged_in: FlaskClient, slug: str) -> None:
    resp = logged_in.get(f"/flows/{slug}")
    assert resp.status_code == 200
    assert HOSTILE[f"{slug}.yaml"][1] in resp.get_data(as_text=True)
    assert logged_in.get(f"/flows/{slug}/picture.svg").status_code == 404
