from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import (
    DEFAULT_CACHE_TTL_SECONDS,
    PLACEHOLDERS,
    Secret,
    SettingsError,
    load_cloudflare_settings,
    load_settings,
    read_environment,
)

VALID = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-SECRETbot",
    "SLACK_SIGNING_SECRET": "SECRETsigning",
    "CLOUDFLARE_API_TOKEN": "SECRETcloudflare",
    "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
    "CLOUDFLARE_IDENTITY_PROVIDER_ID": "F174E90A-FAFE-4643-BBBC-4A0ED4FC8415",
}


def with_(**changes: str | None) -> dict[str, str]:
    env = {**VALID, **changes}
    return {name: value for name, value in env.items() if value is not None}


def test_defaults() -> None:
    settings = load_settings(VALID)

    assert settings.page_size == 10
    assert settings.cache_ttl_seconds == DEFAULT_CACHE_TTL_SECONDS
    assert settings.port == 3000
    assert settings.slack is not None
    assert settings.slack.api_url == "https://slack.com/api/"
    assert not settings.slack.socket_mode
    assert settings.cloudflare.base_url == "https://api.cloudflare.com/client/v4"
    assert settings.cloudflare.identity_provider_id == "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
    assert settings.cloudflare.auth_headers() == {"Authorization": "Bearer SECRETcloudflare"}


def test_the_default_identity_provider_is_optional() -> None:
    assert load_settings(with_(CLOUDFLARE_IDENTITY_PROVIDER_ID=None)).cloudflare.identity_provider_id is None


def test_slack_api_url_for_govslack_gets_a_trailing_slash() -> None:
    settings = load_settings(with_(SLACK_API_URL="https://slack-gov.com/api"))

    assert settings.slack is not None
    assert settings.slack.api_url == "https://slack-gov.com/api/"


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings(with_(SLACK_APP_TOKEN="xapp-1-A-SECRET", SLACK_SIGNING_SECRET=None))

    assert settings.slack is not None
    assert settings.slack.socket_mode


def test_legacy_email_and_global_key() -> None:
    settings = load_settings(
        with_(CLOUDFLARE_API_TOKEN=None, CLOUDFLARE_EMAIL="ops@example.com", CLOUDFLARE_API_KEY="SECRETkey")
    )

    assert settings.cloudflare.auth_headers() == {
        "X-Auth-Email": "ops@example.com",
        "X-Auth-Key": "SECRETkey",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN is not set."),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN must start with 'xoxb-'."),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET is not set."),
        (
            {"SLACK_SIGNING_SECRET": "two words"},
            "SLACK_SIGNING_SECRET contains white space; paste the value again.",
        ),
        ({"SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN must start with 'xapp-'."),
        (
            {"SLACK_API_URL": "slack.com/api"},
            "SLACK_API_URL must be an http(s) URL such as https://slack.com/api/.",
        ),
        ({"CLOUDFLARE_API_TOKEN": None}, "CLOUDFLARE_API_TOKEN is not set (or set CLOUDFLARE_EMAIL and"),
        ({"CLOUDFLARE_API_TOKEN": None, "CLOUDFLARE_EMAIL": "a@b.c"}, "CLOUDFLARE_API_KEY is not set"),
        ({"CLOUDFLARE_API_TOKEN": None, "CLOUDFLARE_API_KEY": "k"}, "CLOUDFLARE_EMAIL is not set"),
        ({"CLOUDFLARE_ACCOUNT_ID": "../../zones"}, "CLOUDFLARE_ACCOUNT_ID must be the account id"),
        ({"CLOUDFLARE_IDENTITY_PROVIDER_ID": "okta"}, "CLOUDFLARE_IDENTITY_PROVIDER_ID must be a UUID"),
        ({"CLOUDFLARE_BASE_URL": "ftp://x"}, "CLOUDFLARE_BASE_URL must be an http(s) URL"),
        (
            {"SCIM_GROUPS_PAGE_SIZE": "0"},
            "SCIM_GROUPS_PAGE_SIZE must be a whole number from 1 to 20 (got '0').",
        ),
        (
            {"SCIM_GROUPS_PAGE_SIZE": "ten"},
            "SCIM_GROUPS_PAGE_SIZE must be a whole number from 1 to 20 (got 'ten').",
        ),
        (
            {"SCIM_GROUPS_CACHE_TTL_SECONDS": "-1"},
            "SCIM_GROUPS_CACHE_TTL_SECONDS must be a number of seconds",
        ),
        ({"PORT": "http"}, "PORT must be a whole number from 1 to 65535"),
    ],
)
def test_a_bad_setting_names_the_variable(changes: dict[str, str | None], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(with_(**changes))

    assert str(raised.value).startswith(message)


def test_errors_never_echo_a_secret() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(with_(SLACK_BOT_TOKEN="xoxp-SECRETuser"))

    assert "SECRET" not in str(raised.value)


def test_secrets_never_show_in_repr() -> None:
    settings = load_settings(
        with_(SLACK_APP_TOKEN="xapp-SECRETapp", CLOUDFLARE_EMAIL="a@b.c", CLOUDFLARE_API_KEY="SECRETkey")
    )

    assert "SECRET" not in repr(settings)
    assert "SECRET" not in str(settings)
    assert repr(Secret("SECRET")) == "Secret('********')"


def test_dotenv_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("SCIM_GROUPS_PAGE_SIZE=5\nPORT=4000\n")

    env = read_environment({**VALID, "PORT": "5000"}, dotenv=dotenv)

    assert load_settings(env).page_size == 5
    assert load_settings(env).port == 5000


def test_the_example_identity_provider_id_of_env_example_is_flagged() -> None:
    env = {"CLOUDFLARE_API_TOKEN": "t", "CLOUDFLARE_ACCOUNT_ID": "a1",
           "CLOUDFLARE_IDENTITY_PROVIDER_ID": PLACEHOLDERS["CLOUDFLARE_IDENTITY_PROVIDER_ID"]}  # fmt: skip

    with pytest.raises(SettingsError, match="CLOUDFLARE_IDENTITY_PROVIDER_ID is still the example value"):
        load_cloudflare_settings(env)
