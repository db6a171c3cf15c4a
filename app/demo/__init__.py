"""Bundled demo data: a small, reproducible stream of email events and campaign records.

Two files sit beside this module:

- ``events.ndjson.gz``: one ``email-events`` Kafka message value per line, in the
  order the messages reach the topic. Most lines are canonical event objects.
  The others are envelopes ``{"provider": ..., "payload": ...}`` that contain a
  provider's own webhook payload: SendGrid batches, Mailgun, Postmark, Amazon
  SES with and without its SNS wrapper, and Brevo.
- ``campaigns.ndjson``: one ``campaign-updates`` record per line,
  ``{workspace_id, campaign_id, name, status, created_at, updated_at}``.

Workspace ``demo`` contains four campaigns sent between 2026-11-10 and 2026-11-14:
an A/B test whose open and click rates differ clearly, and two campaigns whose
rates are too close to tell apart. Workspace ``acme`` has one small campaign
whose id equals a ``demo`` campaign id. The events include bounces, deferrals,
machine opens, link-scanner clicks, unsubscribe-link clicks, replies, spam
complaints, unsubscribes, out-of-order arrivals, duplicates and re-sends under
new event ids. ``app.demo.generate`` documents the campaigns and their intended
rates, and regenerates both files with ``python -m app.demo.generate``.
"""

from pathlib import Path

EVENTS_FILENAME = "events.ndjson.gz"
CAMPAIGNS_FILENAME = "campaigns.ndjson"

DEMO_DIR = Path(__file__).resolve().parent
EVENTS_PATH = DEMO_DIR / EVENTS_FILENAME
CAMPAIGNS_PATH = DEMO_DIR / CAMPAIGNS_FILENAME
