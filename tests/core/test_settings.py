"""Settings: MOVA_* variables, the constructor on top, pydantic's validation and secrets."""

import os

import pytest
from pydantic import ValidationError

from mova_core.model.errors import InvalidSetting
from mova_core.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("MOVA_"):
            monkeypatch.delenv(name)


def test_defaults_follow_the_specification():
    s = Settings()
    assert str(s.dlq_path) == "state/deadletter"
    assert (s.retry_default_max_attempts, s.retry_default_delay, s.retry_default_max_delay) == (3, 2.0, 300.0)
    assert s.dlq_retention_days == 30 and s.api_token is None and s.sandbox_allowed_hosts == []


def test_variables_are_read_with_their_types(monkeypatch, tmp_path):
    monkeypatch.setenv("MOVA_DLQ_PATH", str(tmp_path))
    monkeypatch.setenv("MOVA_RETRY_DEFAULT_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("MOVA_LEASE_SECONDS", "12.5")
    monkeypatch.setenv("MOVA_SANDBOX_ALLOWED_HOSTS", "Files.Example.com, *.internal.test,,")
    s = Settings()
    assert s.dlq_path == tmp_path and s.retry_default_max_attempts == 7 and s.lease_seconds == 12.5
    assert s.sandbox_allowed_hosts == ["files.example.com", "*.internal.test"]


def test_variable_names_match_in_any_case(monkeypatch):
    monkeypatch.setenv("mova_retry_default_delay", "0.5")
    assert Settings().retry_default_delay == 0.5


def test_the_constructor_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MOVA_DLQ_PATH", "/from/env")
    monkeypatch.setenv("MOVA_ACTOR", "env-actor")
    s = Settings(dlq_path=tmp_path)
    assert s.dlq_path == tmp_path and s.actor == "env-actor"


def test_unknown_names_are_ignored(monkeypatch):
    monkeypatch.setenv("MOVA_NOT_A_SETTING", "x")
    assert not hasattr(Settings(something_else=1), "something_else")


def test_an_invalid_value_names_the_setting(monkeypatch):
    """An invalid variable is reported when its setting is read, naming the variable and what it accepts;
    the other settings stay usable (a command that does not need it still works)."""
    monkeypatch.setenv("MOVA_LEASE_SECONDS", "-1")
    monkeypatch.setenv("mova_retry_default_max_attempts", "abc")
    s = Settings(dlq_path="/x")
    assert str(s.dlq_path) == "/x" and s.retry_default_delay == 2.0
    with pytest.raises(InvalidSetting) as exc:
        s.lease_seconds  # noqa: B018
    assert str(exc.value) == ("MOVA_LEASE_SECONDS='-1' is not valid: use a number, greater than 0 and at most "
                              "2592000 (default 900)")  # bounds as a variable is written, not 2.592e+06
    with pytest.raises(InvalidSetting, match=r"^mova_retry_default_max_attempts='abc' is not valid: use a whole "
                                             r"number, at least 1 and at most 1000 \(default 3\)$"):
        s.check("dlq_path", "retry_default_max_attempts")
    # Left out of a dump, so a process given these settings reads the variable (and fails) itself.
    assert "lease_seconds" not in s.model_dump() and "lease_seconds" not in repr(s)
    with pytest.raises(AttributeError):
        s.no_such_setting  # noqa: B018


def test_an_invalid_value_passed_by_the_caller_is_a_validation_error():
    with pytest.raises(ValidationError) as exc:
        Settings(lease_seconds=-1)
    assert "lease_seconds" in str(exc.value)


def test_tokens_are_secrets_never_shown(monkeypatch):
    monkeypatch.setenv("MOVA_API_TOKEN", "tok-12345-secret")
    s = Settings()
    assert s.api_token.get_secret_value() == "tok-12345-secret"
    assert "tok-12345-secret" not in repr(s) and "tok-12345-secret" not in s.model_dump_json()
