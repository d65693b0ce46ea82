"""Embedded mode (SQLite) runs the same hand-written assignment SQL as PostgreSQL, minus the row locks: label a
whole campaign there, through the API, and check the counts, the time stamps and the release of abandoned claims."""

from __future__ import annotations

import json

from tests.foundation.helpers import run_django, run_manage

SCRIPT = r"""
import json, sys
from datetime import timedelta
from pathlib import Path
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from annotation import services
from annotation.models import Campaign, CampaignItem, Claim, Label, Priming
from tests.annotation.conftest import make_pool, make_training_folder
from tests.factories import make_annotator

pool = make_pool(make_training_folder(Path(sys.argv[1])), per_scheme=3, attention_checks=1)
campaign = Campaign.objects.create(name="sqlite", pool=pool, annotators_per_image=2)
users = [make_annotator(f"lite{i}") for i in range(3)]
campaign.annotators.add(*users)
Priming.objects.bulk_create([Priming(campaign=campaign, annotator=u) for u in users])
out = {"items": pool.items.count(), "seen": {}, "progress": {}}

# Abandon a claim: it holds a slot until it is too old, then goes back to the pool.
abandoned = services.next_item(campaign, users[2])
Claim.objects.filter(annotator=users[2]).update(claimed_at=timezone.now() - timedelta(hours=2))

for user in users[:2]:
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    seen = []
    answer = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
    while not answer["done"]:
        seen.append(answer["item"]["id"])
        r = client.post(f"/api/campaigns/{campaign.pk}/labels/", json.dumps(
            {"item": answer["item"]["id"], "value": "novel", "next": True}), content_type="application/json")
        assert r.status_code == 201, r.content
        answer = r.json()
    out["seen"][user.username] = seen
    out["progress"][user.username] = answer["progress"]
    out["undo"] = services.undo_last(campaign, user).public_id  # the last image comes back...
    out["relabel"] = services.submit_label(campaign, user, out["undo"], "creative").value  # ...and is labelled again

out["late"] = services.next_item(campaign, users[2]) is None
out["abandoned"] = abandoned.public_id
out["labels"] = Label.objects.filter(campaign=campaign).count()
out["counts"] = sorted(CampaignItem.objects.filter(campaign=campaign).values_list("labels_count", "claims_count"))
out["claims"] = Claim.objects.count()
out["fresh"] = all(abs((timezone.now() - l.created_at).total_seconds()) < 120 for l in Label.objects.all())
out["spent"] = sorted({l.time_spent_ms is not None and l.time_spent_ms >= 0 for l in Label.objects.all()})
print("RESULT", json.dumps(out))
"""


def test_it_labels_a_campaign_on_sqlite(tmp_path):
    env = {
        "DEBUG": "true",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    migrate = run_manage(["migrate", "--noinput", "-v", "0"], env)
    assert migrate.returncode == 0, migrate.stderr
    done = run_django(f"import sys; sys.argv = ['x', {str(tmp_path)!r}]\n{SCRIPT}", env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.split("RESULT ", 1)[1])

    n = out["items"]
    first, second = out["seen"]["lite0"], out["seen"]["lite1"]
    # Each annotator saw every image once: the abandoned claim came back to them once it was too old.
    assert sorted(first) == sorted(set(first)) and len(first) == n
    assert sorted(second) == sorted(set(second)) and len(second) == n
    assert out["abandoned"] in first
    assert out["progress"]["lite0"] == {"done": n, "total": n}
    assert out["relabel"] == "creative"
    # Two labels on every image (the cap), none left for the third annotator, no claim left behind.
    assert out["late"] is True
    assert out["labels"] == 2 * n
    assert out["counts"] == [[2, 0]] * n
    assert out["claims"] == 0
    # Time stamps written by plain SQL read back as Django's own.
    assert out["fresh"] is True
    assert out["spent"] == [True]
