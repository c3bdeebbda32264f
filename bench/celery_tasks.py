"""Celery tasks for bench/redis_run.sh: the same trivial work as bench/fanout.go.

The broker and result backend come from $CELERY_BROKER (a redis:// URL); tasks go to the queue "bench".
"""
import os

from celery import Celery

URL = os.environ.get("CELERY_BROKER", "redis://127.0.0.1:6379/1")
app = Celery("celery_tasks", broker=URL, backend=URL)
app.conf.update(
    task_default_queue="bench",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
)


@app.task
def inc(i):
    return i + 1


@app.task
def total(xs):
    return sum(xs)
