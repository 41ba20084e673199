/**
 * `GET /v1/consents/events`: the organisation's consent feed as Server-Sent Events. The entries
 * after the client's `Last-Event-ID` header (what a browser's EventSource sends when it
 * reconnects) or `?after=` are replayed from the feed file, then new ones follow as they become
 * durable. Without either, the stream starts at the first entry. No Express routing here: the
 * route in app.ts authenticates and authorises, this writes the stream.
 *
 * @module
 */
import type { Request, Response } from 'express';
import { parseEventId, type ConsentFeed, type ConsentFeedEntry } from '../consent/feed';
import { validateBody } from './validation';

export interface ConsentEventsOptions {
  readonly feed: ConsentFeed;
  /** A comment line this often keeps proxies from closing an idle stream; 15 s unless given. */
  readonly heartbeatMs?: number;
  /**
   * A client that reads slower than this many bytes pile up is disconnected; it reconnects
   * with its Last-Event-ID and loses nothing. 1 MiB unless given.
   */
  readonly maxBufferedBytes?: number;
}

/** The stream's `event` field: consent.granted or consent.revoked. */
export function eventType(entry: ConsentFeedEntry): string {
  return `consent.${entry.change.kind}`;
}

/**
 * Answers with the event stream. Refuses a malformed event id with a {@link ConsentFeedError}
 * (400 INVALID_EVENT_ID) before anything is sent, so the client gets the usual JSON error
 * envelope; ends the stream when the feed closes, and lets go of the feed when the client
 * disconnects.
 *
 * An id beyond the feed's last entry is a place the feed has not reached yet, not an error: the
 * feed numbers the ledger's changes for this org in ledger order, so every feed of the org
 * (a second gateway, or this one rebuilding its feed from the ledger) gives an id the same
 * entry once it gets there. The stream opens at once, says so in a comment, and sends the
 * entries after that id as the feed reaches them. Refusing it instead would end a browser's
 * EventSource for good (it does not retry after a 4xx) in exactly the case where waiting is right.
 *
 * With `purposes` (the caller's role's ACCESS_PURPOSES), only the changes of a grant whose
 * purpose it matches are sent: the others are skipped as the stream goes, so every event keeps
 * its feed seq for id and Last-Event-ID means the same whoever sends it.
 */
export function streamConsentEvents(req: Request, res: Response, options: ConsentEventsOptions, purposes?: RegExp): void {
  const { feed } = options;
  // A plain copy: the query parser's object has no prototype.
  const query = validateBody<{ after?: string }>('ConsentEventsQuery', { ...(req.query as Record<string, unknown>) });
  // The header wins: an EventSource reconnecting keeps the URL it started with and sends the id it got last.
  const header = req.get('last-event-id');
  const after =
    header !== undefined ? parseEventId(header.trim(), 'The Last-Event-ID header') : query.after !== undefined ? parseEventId(query.after, 'The after parameter') : 0;
  // What the feed holds now after `after`: nothing yet when the id is ahead of it (see above).
  const reached = Math.min(after, feed.lastSeq);
  const backlog = feed.entriesAfter(reached);
  // Gone already (it left while its request was read): 'close' has fired and would not again,
  // so a subscription made now would never be let go of.
  if (res.destroyed) return;

  res.status(200);
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache, no-transform');
  // nginx and similar proxies would otherwise buffer the stream.
  res.setHeader('x-accel-buffering', 'no');
  res.flushHeaders();
  res.write('retry: 5000\n\n');
  if (after > reached) {
    res.write(`: resuming after event ${after}; this feed has reached event ${reached} so far: what follows ${after} comes as it catches up with the ledger\n\n`);
  }

  const maxBuffered = options.maxBufferedBytes ?? 2 ** 20;
  let last = after;
  const send = (entry: ConsentFeedEntry): void => {
    if (entry.seq <= last || res.writableEnded) return;
    last = entry.seq;
    if (purposes && !purposes.test(entry.change.purpose ?? '')) return;
    res.write(`id: ${entry.seq}\nevent: ${eventType(entry)}\ndata: ${JSON.stringify(entry)}\n\n`);
    if (res.writableLength > maxBuffered) res.end();
  };
  // Replay and subscription in one turn of the event loop: no entry can fall between them.
  for (const entry of backlog) send(entry);
  const unsubscribe = feed.subscribe({ entry: send, closed: () => res.end() });
  const heartbeat = setInterval(() => {
    if (!res.writableEnded) res.write(': heartbeat\n\n');
  }, options.heartbeatMs ?? 15_000);
  res.on('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
  });
}
