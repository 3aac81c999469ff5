"""The contract: tapping through the ITR and pressing digits into the interpreter reach the
same exit (kind, target) with the same variables. Cases are shared data
(tests/contract_cases.py) so the voice transport can join the same contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from ivr_flows.core.model import Flow
from ivr_flows.edges.actions import ActionRunner
from tests.browser.conftest import Itr, enter, tap
from tests.contract_cases import CASES, TIMEOUT, ContractCase, check_outcome, drive_interpreter

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def runner(demo_backend_url: str) -> Iterator[ActionRunner]:
    r = ActionRunner(demo_backend_url)
    yield r
    r.close()


def drive_itr(page: Page, itr: Itr, flow: Flow, case: ContractCase) -> dict[str, Any]:
    """Tap through the touch page: digits go into the number field, keys are buttons."""
    itr.clock.now = case.now
    if case.caller:  # the ITR knows the number only from a link texted to it
        page.goto(itr.links.make_link(flow, flow.start, flow.default_language,
                                      {"caller": case.caller}))
    else:
        page.goto(f"{itr.url}/f/{flow.name}")
    for given in case.inputs:
        assert page.locator("script#exit").count() == 0, f"{case.name}: ended early"
        if page.locator('input[name="digits"]').count():
            enter(page, "" if given == TIMEOUT else given)
        else:
            tap(page, given)
    data: dict[str, Any] = json.loads(page.locator("script#exit").text_content() or "null")
    return data


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_touch_and_digits_reach_the_same_exit(page: Page, itr: Itr, demo_flow: Flow,
                                             runner: ActionRunner, case: ContractCase) -> None:
    direct = drive_interpreter(demo_flow, runner, case)
    assert direct.exit is not None
    check_outcome(case, direct.exit.kind, direct.exit.target, direct.vars,
                  direct.exit.attributes)

    touch = drive_itr(page, itr, demo_flow, case)
    check_outcome(case, touch["kind"], touch["target"], touch["vars"], touch["attributes"])
    assert touch["vars"] == dict(direct.vars)
    assert (touch["node"], touch["attributes"]) == (direct.exit.node,
                                                    dict(direct.exit.attributes))
