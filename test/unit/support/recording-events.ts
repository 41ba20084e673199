import type { EventCheckpoint, LedgerEvent, LedgerEvents, LedgerEventsOptions } from '../../../gateway/src/fabric/client';

/**
 * For unit tests only: a ledger's events passed through, recording where each subscription
 * resumed and every event it delivered; it can hold events back (`pause`) or break the stream.
 */
export class RecordingEvents implements LedgerEvents {
  readonly subscriptions: (EventCheckpoint | undefined)[] = [];
  readonly delivered: LedgerEvent[] = [];
  /** Throws after this many more events (a broken stream); the reader re-subscribes. */
  breakAfter: number | undefined;
  /** Delivers this many more events, then holds the rest back as {@link pause} does. */
  pauseAfter: number | undefined;
  private gate: Promise<void> = Promise.resolve();
  private release: (() => void) | undefined;

  constructor(private readonly source: LedgerEvents) {}

  /** Holds every further event back until {@link resume}. */
  pause(): void {
    if (!this.release) this.gate = new Promise((resolve) => (this.release = resolve));
  }

  resume(): void {
    this.release?.();
    this.release = undefined;
  }

  async *events(options: LedgerEventsOptions = {}): AsyncGenerator<LedgerEvent> {
    this.subscriptions.push(options.after);
    for await (const event of this.source.events(options)) {
      await this.gate;
      if (options.signal?.aborted) return;
      if (this.breakAfter !== undefined && this.breakAfter-- === 0) {
        this.breakAfter = undefined;
        throw new Error('LEDGER_UNAVAILABLE: stream broken');
      }
      this.delivered.push(event);
      if (this.pauseAfter !== undefined && --this.pauseAfter === 0) {
        this.pauseAfter = undefined;
        this.pause();
      }
      yield event;
    }
  }
}
