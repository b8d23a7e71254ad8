/**
 * What a host's stream has in the server's own thread, whoever analyzes it (this thread, or a worker
 * thread): whether its source is attached and since when, the journal that lets a restarted server
 * resume it, and the capture being recorded from it. HostSession and RemoteSession both keep it.
 */
import type { JournalView, RecordingView } from '../shared/wire.js';
import type { Journal } from './journal.js';
import type { Recording } from './recording.js';

export abstract class StreamKeeping {
  private isConnected = false;
  private since = 0;
  /** Where the batches go too, so that a restarted server resumes (undefined: no journal). */
  protected journal: Journal | undefined;
  /** Recording this stream into the capture library. */
  protected recorder: Recording | undefined;
  /** Its stream comes through this server: it can be recorded. */
  readonly notRecordable: string | undefined = undefined;

  get connected(): boolean {
    return this.isConnected;
  }

  /** When its source was attached (first, when it resumed since). */
  get connectedSince(): number {
    return this.since;
  }

  /** Its source is attached (an agent's socket, a server replay): since `now`, or since it was first when resumed. */
  connect(now?: number): void {
    this.isConnected = true;
    if (now !== undefined) this.since = now;
  }

  disconnect(): void {
    this.isConnected = false;
  }

  attachJournal(j: Journal | undefined): void {
    this.journal = j;
  }

  /** Deletes the journal (a new run, the host forgotten): nothing will resume this stream. */
  dropJournal(): void {
    this.journal?.remove();
    this.journal = undefined;
  }

  closeJournal(): void {
    this.journal?.close();
  }

  get recording(): Recording | undefined {
    return this.recorder;
  }

  startRecording(r: Recording): void {
    this.recorder = r;
  }

  /** Stops taking the recording; a failed one stays, so that its error stays in view until the next one. */
  detachRecording(): Recording | undefined {
    const r = this.recorder;
    if (r !== undefined && !r.failed) this.recorder = undefined;
    return r;
  }

  /** The journal and recording as the host's view shows them. */
  protected keptViews(): { journal: JournalView | null; recording: RecordingView | null } {
    return { journal: this.journal?.view() ?? null, recording: this.recorder?.view() ?? null };
  }
}
