"""A property-based fuzz of the live API against its own OpenAPI schema (Schemathesis over Hypothesis).

A real HTTP server (pytest-django's live server on the test database) answers every operation of /api/schema/,
called as a researcher, an annotator and anonymously, with valid input (positive mode) and input the schema
forbids (negative mode). Before each call Hypothesis also draws the annotator's state: the campaign named in the
path (primed and open, not yet primed, closed, somebody else's, or the generated id), whether the annotator holds
an image, and whether a label body names the image held, so priming, next, label and undo are all reached,
successfully and not. Every answer must be no 5xx, a status, content type, header and body the schema documents,
a refusal for input the schema forbids, and every refusal JSON with an `error` code. A fixed seed and example budget keep it repeatable and short.
"""

from __future__ import annotations

import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotation import services
from annotation.models import Campaign, Claim, Priming
from tests.annotation.conftest import make_pool
from tests.factories import make_annotator

EXAMPLES = 12  # per operation, persona and mode: 7 operations x 3 personas x 2 modes x 12 = 504 cases at most
SEED = 20261201

pytestmark = pytest.mark.django_db(transaction=True)


@schemathesis.check
def refusal_is_json_with_a_code(ctx, response, case) -> bool | None:
    if response.status_code >= 400:
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.headers
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
        assert isinstance(body.get("detail"), str), body
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, refusal_is_json_with_a_code]


class World:
    """The campaigns the fuzz points the path at, and the annotator's state in them."""

    def __init__(self, tmp_path, annotator, researcher) -> None:
        from tests.annotation.conftest import make_training_folder

        folder = make_training_folder(tmp_path)
        self.annotator = annotator
        pool = make_pool(folder, per_scheme=8)
        self.open = Campaign.objects.create(name="Open", pool=pool, priming_count=4, annotators_per_image=3)
        self.unprimed = Campaign.objects.create(name="Not primed", pool=pool, priming_count=4, annotators_per_image=3)
        self.closed = Campaign.objects.create(name="Closed", pool=pool, priming_count=4, is_open=False)
        self.others = Campaign.objects.create(name="Others'", pool=pool, priming_count=4)
        for campaign in (self.open, self.unprimed, self.closed):
            campaign.annotators.add(annotator)
        self.others.annotators.add(make_annotator("olga"))
        Priming.objects.create(campaign=self.open, annotator=annotator)
        Priming.objects.create(campaign=self.closed, annotator=annotator)
        self.headers = {
            "researcher": {"Authorization": f"Token {Token.objects.create(user=researcher).key}"},
            "annotator": {"Authorization": f"Token {Token.objects.create(user=annotator).key}"},
            "anonymous": {},
        }

    def prepare(self, case, data, persona: str) -> bool:
        """Draw the state; True when the case's path or body was changed (a negative case may be valid then)."""
        changed = False
        # Mostly the campaign where labeling can go on, so the flow gets past its first refusal.
        ids = [self.open.pk] * 4 + [self.unprimed.pk, self.closed.pk, self.others.pk, None]
        if "id" in (case.path_parameters or {}):
            chosen = data.draw(st.sampled_from(ids), label="campaign")
            if chosen is not None:
                case.path_parameters["id"] = chosen
                changed = True
        if persona != "annotator":
            return changed
        if data.draw(st.booleans(), label="unprime"):
            Priming.objects.filter(campaign=self.unprimed, annotator=self.annotator).delete()
        if data.draw(st.booleans(), label="hold an image"):
            services.next_item(self.open, self.annotator)  # the one held, or a new one; None when all are done
        held = Claim.objects.filter(campaign=self.open, annotator=self.annotator).values_list(
            "slot__item__public_id", flat=True).first()
        if case.path.endswith("/labels/") and case.method == "POST" and held and isinstance(case.body, dict):
            if data.draw(st.integers(0, 3), label="name the held image") > 0:
                case.body["item"] = held
                changed = True
        return changed


@pytest.fixture
def world(tmp_path, annotator, researcher) -> World:
    return World(tmp_path, annotator, researcher)


def fuzz(operation, mode, persona: str, world: World, base_url: str, session, counts: dict) -> None:
    """EXAMPLES cases of one operation, one persona, one generation mode; raises on the first failed check."""

    @seed(SEED)
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case, data) -> None:
        changed = world.prepare(case, data, persona)
        response = case.call(base_url=base_url, session=session, headers=world.headers[persona])
        counts["cases"] += 1
        key = (persona, case.method, case.operation.path, response.status_code)
        counts["statuses"][key] = counts["statuses"].get(key, 0) + 1
        # Input the schema forbids must be refused, unless the state drawn above replaced what made it invalid.
        checks = [check for check in CHECKS if not (changed and check is negative_data_rejection)]
        case.validate_response(response, checks=checks)

    try:
        run()
    except Unsatisfiable:
        # Negative mode on an operation with nothing to break (no parameter, no body): nothing to send.
        assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
        counts["skipped"].append(f"{operation.label} ({mode.value})")


def test_it_survives_a_fuzz_of_its_schema(live_server, world):
    raw = requests.get(f"{live_server.url}/api/schema/", headers={**world.headers["researcher"],
                       "Accept": "application/vnd.oai.openapi+json"}, timeout=30)
    assert raw.status_code == 200, raw.text[:300]
    schema = schemathesis.openapi.from_dict(raw.json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    session = requests.Session()
    counts: dict = {"cases": 0, "statuses": {}, "skipped": []}
    started = time.monotonic()
    for persona in ("researcher", "annotator", "anonymous"):
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            for operation in operations:
                fuzz(operation, mode, persona, world, live_server.url, session, counts)
    elapsed = time.monotonic() - started
    statuses = counts["statuses"]
    by_status: dict = {}
    for (_, _, _, status), n in statuses.items():
        by_status[status] = by_status.get(status, 0) + n
    print(f"\nfuzz: {counts['cases']} cases in {elapsed:.1f} s; statuses {sorted(by_status.items())}; "
          f"nothing to negate in {sorted(set(counts['skipped']))}")
    # The label flow was reached, not only refused: primed, images handed out, labels stored and undone, and the
    # refusals that depend on state (priming required, closed, not assigned, nothing to undo).
    reached = {key[:4] for key in statuses}
    for method, path, status in [
        ("POST", "/api/campaigns/{id}/priming/", 200), ("POST", "/api/campaigns/{id}/next/", 200),
        ("POST", "/api/campaigns/{id}/labels/", 201), ("POST", "/api/campaigns/{id}/undo/", 200),
        ("POST", "/api/campaigns/{id}/labels/", 409), ("POST", "/api/campaigns/{id}/next/", 409),
        ("POST", "/api/campaigns/{id}/labels/", 400), ("GET", "/api/labels/", 200),
    ]:
        assert ("annotator", method, path, status) in reached, (method, path, status, sorted(statuses.items()))
