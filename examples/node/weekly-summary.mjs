// Create a per-user weekly schedule on cronhook with the official QStash SDK.
//
//   (cd examples/node && npm ci)        # @upstash/qstash 2.12.0, from the lock file
//   QSTASH_URL=http://127.0.0.1:8080 QSTASH_TOKEN=<token printed by cronhook serve> \
//     node examples/node/weekly-summary.mjs http://127.0.0.1:3000/api/send-weekly-summary
//
// Unchanged QStash code: only the base URL and the token point at cronhook.
import { Client } from "@upstash/qstash";

const destination = process.argv[2] ?? "http://127.0.0.1:3000/api/send-weekly-summary";
const client = new Client({ baseUrl: process.env.QSTASH_URL, token: process.env.QSTASH_TOKEN });

const { scheduleId } = await client.schedules.create({
  scheduleId: "user-summary-ann@example.com",
  destination,
  body: JSON.stringify({ userId: 42 }),
  cron: "CRON_TZ=Europe/Berlin 30 9 * * 1", // Mondays 09:30, Berlin time
});
const schedule = await client.schedules.get(scheduleId);
console.log(`created ${schedule.scheduleId}: ${schedule.cron} -> ${schedule.destination}`);
