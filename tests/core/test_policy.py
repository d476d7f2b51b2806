"""Retry policies: resolution field by field, the delay schedule, jitter, validation messages."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mova_core.engine.envelopes import load_envelope
from mova_core.engine.policy import (
    EffectivePolicy,
    base_delay,
    compute_delay,
    resolve_policy,
    retry_after_delay,
    schedule,
)
from mova_core.model.errors import PolicyError
from mova_core.model.policy import Backoff, RetryPolicy, load_policy
from mova_core.settings import Settings


def P(**kw) -> EffectivePolicy:
    base = dict(max_attempts=5, backoff=Backoff.exponential, delay=1.0, max_delay=300.0, jitter=False)
    base.update(kw)
    return EffectivePolicy(**base)


def test_defaults_follow_settings():
    pol = resolve_policy(None, None, Settings())
    assert pol == EffectivePolicy(max_attempts=3, backoff=Backoff.exponential, delay=2.0, max_delay=300.0, jitter=True)


def test_defaults_read_environment(monkeypatch):
    monkeypatch.setenv("MOVA_RETRY_DEFAULT_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("MOVA_RETRY_DEFAULT_DELAY", "0.5")
    monkeypatch.setenv("MOVA_RETRY_DEFAULT_MAX_DELAY", "10")
    pol = resolve_policy(None, None, Settings())
    assert (pol.max_attempts, pol.delay, pol.max_delay) == (7, 0.5, 10.0)


def test_resolution_is_field_by_field():
    workflow = RetryPolicy(max_attempts=5, backoff="exponential", delay=2, max_delay=120, jitter=True)
    action = RetryPolicy(max_attempts=3, backoff="linear", delay=5)
    pol = resolve_policy(action, workflow, Settings())
    # action wins where it speaks, the workflow fills max_delay and jitter
    assert pol == EffectivePolicy(max_attempts=3, backoff=Backoff.linear, delay=5.0, max_delay=120.0, jitter=True)


def test_workflow_over_defaults_and_partial_action():
    pol = resolve_policy(RetryPolicy(jitter=False), RetryPolicy(delay=0.05), Settings())
    assert pol == EffectivePolicy(max_attempts=3, backoff=Backoff.exponential, delay=0.05, max_delay=300.0, jitter=False)


def test_effective_policy_as_stored():
    stored = P(delay=2.0, max_delay=120.0).to_model().model_dump(mode="json")
    assert stored == {"max_attempts": 5, "backoff": "exponential", "delay": 2, "max_delay": 120, "jitter": False}


@pytest.mark.parametrize(
    "backoff, delay, expected",
    [
        (Backoff.fixed, 5, [5, 5, 5, 5]),
        (Backoff.linear, 2, [2, 4, 6, 8]),
        (Backoff.exponential, 1, [1, 2, 4, 8]),
    ],
)
def test_schedules_without_jitter(backoff, delay, expected):
    assert schedule(P(backoff=backoff, delay=delay), random.Random(0)) == expected


def test_exponential_spec_example_and_cap():
    pol = P(max_attempts=9, delay=1, max_delay=60)
    assert [base_delay(pol, n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_max_attempts_counts_the_first_attempt():
    assert len(schedule(P(max_attempts=1), random.Random(0))) == 0
    assert len(schedule(P(max_attempts=3), random.Random(0))) == 2


def test_huge_attempt_numbers_do_not_overflow():
    assert base_delay(P(delay=1, max_delay=300), 5000) == 300
    assert base_delay(P(delay=0, max_delay=300), 5000) == 0


def test_fractional_delays():
    assert schedule(P(backoff=Backoff.linear, delay=0.05, max_attempts=4), random.Random(0)) == pytest.approx([0.05, 0.1, 0.15])


def test_seeded_jitter_is_exact_and_reproducible():
    pol = P(jitter=True, delay=2, max_attempts=5)
    first = schedule(pol, random.Random(42))
    rng = random.Random(42)
    expected = [d / 2 + rng.uniform(0, d / 2) for d in (2, 4, 8, 16)]
    assert first == expected
    assert schedule(pol, random.Random(42)) == first
    assert schedule(pol, random.Random(43)) != first


def test_jitter_spreads_runs_that_fail_together():
    pol = P(jitter=True, delay=4)
    delays = {round(compute_delay(pol, 3, random.Random(seed)), 6) for seed in range(50)}
    assert len(delays) > 40
    assert all(8 <= d <= 16 for d in delays)


@given(
    backoff=st.sampled_from(list(Backoff)),
    delay=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    max_delay=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    attempt=st.integers(min_value=1, max_value=2000),
    seed=st.integers(0, 2**32),
)
def test_jitter_never_exceeds_max_delay_nor_falls_below_half(backoff, delay, max_delay, attempt, seed):
    pol = P(backoff=backoff, delay=delay, max_delay=max_delay, jitter=True)
    capped = base_delay(pol, attempt)
    d = compute_delay(pol, attempt, random.Random(seed))
    assert capped / 2 <= d <= capped <= max_delay


def test_retry_after_is_capped_by_max_delay():
    assert retry_after_delay(P(max_delay=60), 7) == 7
    assert retry_after_delay(P(max_delay=60), 3600) == 60
    assert retry_after_delay(P(max_delay=60), -5) == 0


# --- validation -------------------------------------------------------------------------------


def _problems(doc) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_envelope(doc)
    return info.value.problems


def _env(action_retry=None, intent_retry=None, **action):
    a = {"id": "a", "type": "set", "params": {"variable": "x", "value": 1}, **action}
    if action_retry is not None:
        a["retry"] = action_retry
    intent = {"name": "wf"}
    if intent_retry is not None:
        intent["retry"] = intent_retry
    return {"intent": intent, "actions": [a]}


@pytest.mark.parametrize(
    "retry, line",
    [
        ({"backoff": "random"}, "actions[0].retry.backoff: must be one of fixed, linear, exponential"),
        ({"delay": -1}, "actions[0].retry.delay: must not be negative"),
        ({"max_delay": -0.5}, "actions[0].retry.max_delay: must not be negative"),
        ({"max_attempts": 0}, "actions[0].retry.max_attempts: must be at least 1"),
        ({"max_attempts": "3"}, "actions[0].retry.max_attempts: must be an integer"),
        ({"max_attempts": 2.5}, "actions[0].retry.max_attempts: must be an integer"),
        ({"delay": "2"}, "actions[0].retry.delay: must be a number of seconds"),
        ({"delay": True}, "actions[0].retry.delay: must be a number of seconds"),
        ({"jitter": "yes"}, "actions[0].retry.jitter: must be true or false"),
        ({"backoff": 3}, "actions[0].retry.backoff: must be one of fixed, linear, exponential"),
        ("fast", "actions[0].retry: must be an object with max_attempts, backoff, delay, max_delay, jitter"),
    ],
)
def test_invalid_action_policies_name_the_path(retry, line):
    assert line in _problems(_env(action_retry=retry))


def test_invalid_workflow_policy_names_the_path():
    problems = _problems(_env(intent_retry={"backoff": "sometimes", "delay": -2}))
    assert "intent.retry.backoff: must be one of fixed, linear, exponential" in problems
    assert "intent.retry.delay: must not be negative" in problems


def test_error_message_lists_every_problem():
    with pytest.raises(PolicyError) as info:
        load_envelope(_env(action_retry={"backoff": "x", "max_attempts": 0}))
    text = str(info.value)
    assert "actions[0].retry.backoff" in text and "actions[0].retry.max_attempts" in text


def test_envelope_shape_errors():
    assert "intent: is required" in _problems({"actions": []})
    assert "actions: must be a list" in _problems({"intent": {"name": "x"}, "actions": {}})
    assert "actions[0].type: is required" in _problems({"intent": {"name": "x"}, "actions": [{"id": "a"}]})
    assert _problems([1, 2]) == ["(document): an envelope must be a JSON object with intent and actions"]


def test_unknown_action_type_and_bad_params_are_rejected_up_front():
    doc = {
        "intent": {"name": "x"},
        "actions": [
            {"id": "a", "type": "teleport", "params": {}},
            {"id": "b", "type": "http_fetch", "params": {"ulr": "http://x"}},
            {"id": "c", "type": "sleep", "params": {"seconds": 10_000}},
            {"id": "d", "type": "set", "config": {"value": 1}},
            {"id": "d", "type": "print", "params": {"message": "{{ env.HOME }}"}},
        ],
    }
    problems = _problems(doc)
    assert any(p.startswith("actions[0].type: unknown action type 'teleport'; known types: ") for p in problems)
    assert "actions[1].params.url: is required" in problems
    assert any(p.startswith("actions[1].params.ulr:") for p in problems)
    assert "actions[2].params.seconds: must be at most 300" in problems
    assert "actions[3].config.variable: is required" in problems
    assert "actions[4].id: duplicate action id 'd' (also actions[3])" in problems
    assert any(p.startswith("actions[4].params: unknown template root 'env'") for p in problems)


def test_templated_params_are_checked_at_run_time_only():
    env = load_envelope({
        "intent": {"name": "x"},
        "actions": [{"id": "s", "type": "sleep", "params": {"seconds": "{{ variables.wait }}"}}],
    })
    assert env.actions[0].arguments == {"seconds": "{{ variables.wait }}"}


def test_go_dialect_envelope_loads():
    env = load_envelope({
        "intent": {"name": "invoice-sync", "retry": {"max_attempts": 4, "backoff": "exponential", "delay": 3}},
        "payload": None,
        "actions": [
            {"type": "set", "name": "prepare", "config": {"variable": "batch_size", "value": 50}},
            {"type": "http_fetch", "name": "push", "timeout": 30,
             "config": {"url": "https://accounting.example.com/v2/invoices", "method": "POST", "timeout_ms": 15000}},
        ],
    })
    assert [a.key for a in env.actions] == ["prepare", "push"]


def test_load_policy_alone():
    assert load_policy({"delay": 0.05}).delay == 0.05
    assert load_policy(None) is None
    with pytest.raises(PolicyError, match=r"retry\.backoff: must be one of fixed, linear, exponential"):
        load_policy({"backoff": "nope"})
