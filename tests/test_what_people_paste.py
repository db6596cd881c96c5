"""What people paste at 3 a.m., each answered end to end: signed as Slack signs it, sent as Slack
sends it (its markup and escaping), over HTTP into the real app, against the fakes.

One directory holds every shape the examples need: an Okta group id as a group's external id,
an id only a second provider holds, a person by email and name, and a Slack account for them.
"""

from __future__ import annotations

import pytest

from tests.conftest import SlackDriver, StartBot
from tests.fake_access import make_user
from tests.fakes import PROVIDER_ID, FakeCloudflare, FakeSlack, make_group, texts

OKTA_GROUP_ID = "00g1HxmbubgVjZccWQvM"
AZURE = "0f7c2a1e-0000-4000-8000-00000000a2a2"
AZURE_GROUP_ID = "5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60"


@pytest.fixture
def bot(start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack) -> SlackDriver:
    cloudflare.groups[PROVIDER_ID][4].update(displayName="Engineering - All", externalId=OKTA_GROUP_ID)
    azure = [make_group(100, "AAD-Engineering")]
    azure[0]["externalId"] = AZURE_GROUP_ID
    cloudflare.add_provider(AZURE, "Azure AD", azure, kind="azureAD")
    people = [make_user(n) for n in range(12)]
    people[3].update(displayName="Katherine Johnson", active=False)
    people[3]["emails"] = [{"value": "katherine.johnson@example.com", "primary": True, "type": "work"}]
    people[3]["userName"] = "katherine.johnson@example.com"
    cloudflare.users[PROVIDER_ID] = people
    slack.add_person("U0KJ", "Katherine Johnson", "katherine.johnson@example.com")
    return start_bot()


KATHERINE = "*Katherine Johnson* — *deactivated* by the identity provider"


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        (OKTA_GROUP_ID, f"1 group has the External ID `{OKTA_GROUP_ID}` · no group name contains it."),
        (f"external:{AZURE_GROUP_ID}", "Found in another identity provider of the account: *Azure AD*"),
        ("user:<mailto:katherine.johnson@example.com|katherine.johnson@example.com>", KATHERINE),
        ("user:@katherine.johnson", "Pick the person from Slack's list as you type `@`"),
        ("user:<@U0KJ|katherine.johnson>", KATHERINE),
        ("user:<https://acme-admin.okta.com/admin/user/profile/view/00u000003|https://acme-admin.okta.com/…>",
         KATHERINE),
        ("user:Katherine Johnson", KATHERINE),
        ("usr:jane@example.com", "`usr:` is not an option: did you mean `user:`"),
        ("fail:6h", "`fail:` is not an option: did you mean `failures:`"),
        ("failure", "Looking for `/scim-groups failures`?"),
        ("failures:2w", "Failed SCIM pushes, last 14 days"),
        ("changed:100d", "at most 90 days"),
        ("engineering all", "*Engineering - All*"),
        ("enginering al", "Did you mean *Engineering - All*?"),
    ],
)  # fmt: skip
def test_what_people_paste_is_answered_as_they_meant_it(bot: SlackDriver, sent: str, said: str) -> None:
    message = bot.command(sent, as_sent=True)

    assert any(said in line for line in texts(message)), list(texts(message))
