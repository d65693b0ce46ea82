"""Nothing an annotator can fetch names the scheme, the job or the sample: pages, API answers, image bytes, headers."""

from __future__ import annotations

import base64
import io
import re

from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from annotation.images import constant_size_png, strip_png
from tests.annotation.conftest import SCHEMES, png


def forbidden_words(campaign) -> list[str]:
    job = campaign.pool.job
    words = [*SCHEMES, "random flip", "low-active", "low active", "scheme", f"job {job.pk}", f"job={job.pk}"]
    words += [s.image.name for s in job.samples.all()]
    return words


def test_it_strips_metadata_from_served_images(primed, annotator):
    client = APIClient()
    client.force_login(annotator)
    item = primed.pool.items.exclude(sample=None).first()
    raw = item.sample.image.read()
    assert b"scheme=" in raw  # the fixture's file does carry a telltale chunk
    response = client.get(reverse("annotation:image", args=[item.public_id]))
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"scheme" not in body and b"tEXt" not in body
    assert Image.open(io.BytesIO(body)).tobytes() == Image.open(io.BytesIO(raw)).tobytes()
    assert response["Content-Type"] == "image/png"
    assert "no-store" in response["Cache-Control"]
    for header in ("Content-Disposition", "Last-Modified", "ETag", "Expires"):
        assert header not in response


def test_it_hands_out_the_stripped_image_inline(primed, annotator):
    client = APIClient()
    client.force_login(annotator)
    answer = client.post(reverse("annotation_api:next", args=[primed.pk])).json()
    prefix = "data:image/png;base64,"
    assert answer["item"]["data_url"].startswith(prefix)
    inline = base64.b64decode(answer["item"]["data_url"][len(prefix):])
    served = client.get(answer["item"]["image"]).content
    assert inline == served  # the same stripped bytes as the image URL
    assert b"tEXt" not in inline and b"scheme" not in inline
    # The next image comes inline with the label's answer too.
    labelled = client.post(reverse("annotation_api:submit", args=[primed.pk]),
                           {"item": answer["item"]["id"], "value": "novel", "next": True}, format="json").json()
    assert base64.b64decode(labelled["item"]["data_url"][len(prefix):]) == client.get(labelled["item"]["image"]).content


def test_it_keeps_images_intact_when_stripping():
    data = png(3, text="secret")
    stripped = strip_png(data)
    assert b"secret" not in stripped
    assert Image.open(io.BytesIO(stripped)).tobytes() == Image.open(io.BytesIO(png(3))).tobytes()


def test_it_names_no_scheme_in_anything_an_annotator_sees(primed, annotator):
    client = APIClient()
    client.force_login(annotator)
    seen: list[str] = []
    pages = [reverse("annotation:index"), reverse("annotation:priming", args=[primed.pk]),
             reverse("annotation:label", args=[primed.pk])]
    seen += [client.get(url, follow=True).content.decode() for url in pages]
    while True:
        answer = client.post(reverse("annotation_api:next", args=[primed.pk]))
        seen.append(answer.content.decode())
        body = answer.json()
        if body["done"]:
            break
        image = client.get(body["item"]["image"])
        seen.append(image.content.decode("latin-1") + str(dict(image.headers)))
        seen.append(client.post(reverse("annotation_api:submit", args=[primed.pk]),
                                {"item": body["item"]["id"], "value": "novel"}, format="json").content.decode())
    seen.append(client.get(reverse("annotation_api:labels")).content.decode())
    seen.append(client.get(reverse("annotation:done", args=[primed.pk])).content.decode())
    text = "\n".join(seen).lower()
    for word in forbidden_words(primed):
        assert word.lower() not in text, word
    # Image URLs carry only the opaque public id.
    for url in re.findall(r"/annotate/image/([^\"']+)\.png", text):
        assert primed.pool.items.filter(public_id__iexact=url).exists()


def test_it_names_no_scheme_in_the_study_link_pages(pool):
    """A panel participant's path: consent, priming, labeling, API answers, completion, and the late arrival's page."""
    from django.test import Client

    from annotation.models import Campaign, StudyLink

    campaign = Campaign.objects.create(name="Panel", pool=pool, priming_count=4, annotators_per_image=1)
    link = StudyLink.objects.create(campaign=campaign, quota=100, completion_url="https://example.org/done?cc={code}")
    url = reverse("annotation:study", args=[link.link_id, link.secret]) + "?PROLIFIC_PID=P1&STUDY_ID=S&SESSION_ID=X"
    client = Client(REMOTE_ADDR="198.51.100.14")
    seen = [client.get(url).content.decode(), client.post(url, follow=True).content.decode()]
    seen.append(client.post(reverse("annotation:priming", args=[campaign.pk]), follow=True).content.decode())
    while True:
        answer = client.post(reverse("annotation_api:next", args=[campaign.pk]))
        seen.append(answer.content.decode() + str(dict(answer.headers)))
        body = answer.json()
        if body["done"]:
            break
        image = client.get(body["item"]["image"])
        seen.append(image.content.decode("latin-1") + str(dict(image.headers)))
        seen.append(client.post(reverse("annotation_api:submit", args=[campaign.pk]),
                                {"item": body["item"]["id"], "value": "novel"}, content_type="application/json"
                                ).content.decode())
    seen.append(client.get(reverse("annotation:done", args=[campaign.pk]), follow=True).content.decode())
    late = reverse("annotation:study", args=[link.link_id, link.secret]) + "?PROLIFIC_PID=P2"
    seen.append(Client(REMOTE_ADDR="198.51.100.15").get(late).content.decode())
    text = "\n".join(seen).lower()
    assert link.code_completed.lower() in text and link.code_no_work.lower() in text  # the walk reached both ends
    for word in forbidden_words(campaign):
        assert word.lower() not in text, word


def test_it_serves_every_image_of_one_size_at_one_length(primed, annotator):
    """Files however written (compressed, interlaced, with a colour profile) come out uncompressed: a noisy image
    and a flat one of the same size have the same length, inline and by URL."""
    noisy = Image.effect_noise((28, 28), 80).convert("L")
    flat = Image.new("L", (28, 28), 0)
    writes = [(noisy, {"compress_level": 9}), (flat, {"compress_level": 9, "interlace": 1}),
              (flat, {"compress_level": 1, "icc_profile": b"\0" * 64})]
    items = list(primed.pool.items.select_related("sample"))
    for item, (image, options) in zip(items, writes, strict=False):
        buf = io.BytesIO()
        image.save(buf, format="PNG", **options)
        field = item.image_file
        with field.storage.open(field.name, "wb") as fh:
            fh.write(buf.getvalue())
    stored = {len(item.image_file.storage.open(item.image_file.name).read()) for item in items[:3]}
    assert len(stored) == 3  # the files on disk differ in length
    client = APIClient()
    client.force_login(annotator)
    prefix = "data:image/png;base64,"
    inline, served = [], []
    while not (answer := client.post(reverse("annotation_api:next", args=[primed.pk])).json())["done"]:
        inline.append(base64.b64decode(answer["item"]["data_url"][len(prefix):]))
        served.append(client.get(answer["item"]["image"]).content)
        client.post(reverse("annotation_api:submit", args=[primed.pk]), {"item": answer["item"]["id"], "value": "novel"},
                    format="json")
    assert len(served) == len(items)
    assert {len(b) for b in inline} == {len(b) for b in served} == {len(constant_size_png(png(0)))}
    assert all(b"iCCP" not in b and b"tEXt" not in b for b in served)
    pixels = {Image.open(io.BytesIO(b)).tobytes() for b in served}
    assert noisy.tobytes() in pixels and flat.tobytes() in pixels  # same pixels, only the encoding changed


def test_it_serves_constant_size_files_as_they_are():
    noisy, flat = Image.effect_noise((30, 20), 80).convert("RGB"), Image.new("RGB", (30, 20), (1, 2, 3))
    encoded = {}
    for name, image in (("noisy", noisy), ("flat", flat)):
        for level in (9, 0):
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=level)
            encoded[name, level] = buf.getvalue()
    assert len(encoded["noisy", 9]) != len(encoded["flat", 9])
    out = {key: constant_size_png(data) for key, data in encoded.items()}
    assert len({len(b) for b in out.values()}) == 1
    assert out["flat", 0] == encoded["flat", 0] and out["noisy", 0] == encoded["noisy", 0]  # already constant-size
    assert Image.open(io.BytesIO(out["flat", 9])).tobytes() == flat.tobytes()
