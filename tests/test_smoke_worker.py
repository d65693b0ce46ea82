import pytest

from config.celery_app import app


@app.task(name="tests.add")
def add(x, y):  # registered in the worker too, since the worker imports tests only via autodiscovery
    return x + y


def test_it_roundtrips_a_worker(start_worker):
    worker = start_worker()
    reply = app.control.ping(timeout=5)
    assert reply, worker.output()
