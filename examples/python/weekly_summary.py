"""Create a per-user weekly schedule on cronhook with the official QStash SDK.

    pip install qstash==3.4.0
    QSTASH_URL=http://127.0.0.1:8080 QSTASH_TOKEN=<token printed by cronhook serve> \
        python examples/python/weekly_summary.py http://127.0.0.1:3000/api/send-weekly-summary

Unchanged QStash code: only the base URL and the token point at cronhook.
"""

import os
import sys

from qstash import QStash

destination = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000/api/send-weekly-summary"
client = QStash(os.environ["QSTASH_TOKEN"], base_url=os.environ["QSTASH_URL"])

schedule_id = client.schedule.create_json(
    schedule_id="user-summary-ann@example.com",
    destination=destination,
    body={"userId": 42},
    cron="CRON_TZ=Europe/Berlin 30 9 * * 1",  # Mondays 09:30, Berlin time
)
schedule = client.schedule.get(schedule_id)
print(f"created {schedule.schedule_id}: {schedule.cron} -> {schedule.destination}")
