"""A property-based fuzz (Hypothesis) of the pages outside the API that take input from the address: the study
link (anyone), the generation progress view and the admin's lists, filters, searches and copy links (a
researcher). Any text may arrive there: NUL bytes, digits that are not ASCII, numbers past bigint, very long
values. Every answer must be no 5xx, and a refusal of a page an HTML page. A fixed seed keeps it repeatable."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from annotation.models import Campaign, StudyLink
from tests.annotation.conftest import make_pool, make_training_folder

SEED = 20261202
EXAMPLES = 40

# Text as an attacker sends it: anything encodable (no lone surrogates: they cannot be percent-encoded), with the
# characters that broke pages before drawn often.
HOSTILE = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.sampled_from(["\x00", "a\x00b", "²", "١٢", "99999999999999999999", "-1", "1,²", "%00", "' OR 1=1 --",
                     "x" * 3000, "１２", "0x10", "1e3", " 7 "]),
)
ADMIN_LISTS = {
    "annotation/label": ["value__exact", "campaign__id__exact", "q", "o", "p"],
    "annotation/participant": ["outcome__exact", "excluded__exact", "campaign__id__exact", "q"],
    "annotation/campaign": ["is_open__exact", "q", "o"],
    "generation/sample": ["scheme__exact", "q", "p"],
    "generation/trainedmodel": ["dataset__exact", "status__exact", "q"],
    "generation/generationjob": ["status__exact", "q"],
}
COPYABLE = ["annotation/campaign", "generation/generationjob", "generation/trainedmodel"]


def _fuzz(check) -> None:
    seed(SEED)(hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                                   suppress_health_check=list(HealthCheck))(check))()


def assert_answered(response, url: str, *, json_ok: bool = False) -> None:
    assert response.status_code < 500, (url, response.status_code)
    if response.status_code >= 400:
        kinds = ("text/html", "application/json") if json_ok else ("text/html",)
        assert response["Content-Type"].startswith(kinds), (url, response["Content-Type"])


@pytest.fixture
def link(db, tmp_path) -> StudyLink:
    campaign = Campaign.objects.create(name="Panel", pool=make_pool(make_training_folder(tmp_path)), priming_count=4)
    return StudyLink.objects.create(campaign=campaign)


def test_the_study_link_survives_a_fuzz(link):
    client = Client()

    @given(link_id=st.one_of(st.just(link.link_id), HOSTILE), secret=st.one_of(st.just(link.secret), HOSTILE),
           name=st.sampled_from(["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "other"]), value=HOSTILE,
           method=st.sampled_from(["get", "head", "post"]))
    def check(link_id, secret, name, value, method):
        url = f"/annotate/study/{quote(link_id, safe='')}/{quote(secret, safe='')}/?{name}={quote(value, safe='')}"
        assert_answered(getattr(Client(REMOTE_ADDR="10.77.0.1"), method)(url), url)
        done = f"/annotate/study/{quote(link_id, safe='')}/done/"
        assert_answered(client.get(done), done)

    _fuzz(check)


def test_the_progress_view_survives_a_fuzz(client, researcher):
    client.force_login(researcher)

    @given(key=st.sampled_from(["jobs", "models", "builds"]), value=HOSTILE)
    def check(key, value):
        url = f"/generation/progress/?{key}={quote(value, safe=',')}"
        assert_answered(client.get(url), url, json_ok=True)  # polled by the admin's script: it answers JSON

    _fuzz(check)


def test_the_admin_query_strings_survive_a_fuzz(client, researcher, link):
    client.force_login(researcher)

    @given(model=st.sampled_from(sorted(ADMIN_LISTS)), data=st.data(), value=HOSTILE)
    def check(model, data, value):
        name = data.draw(st.sampled_from(ADMIN_LISTS[model]), label="parameter")
        url = f"/admin/{model}/?{name}={quote(value, safe='')}"
        assert_answered(client.get(url), url)
        if model in COPYABLE:
            add = f"/admin/{model}/add/?copy_of={quote(value, safe='')}"
            assert_answered(client.get(add), add)

    _fuzz(check)
