/** Every kind's lifetime effect, from its family (the compiler checks that none is missing). */
import { dcacheEffects } from '../families/dcache/index.js';
import { epollEffects } from '../families/epoll/index.js';
import { fileEffects } from '../families/file/index.js';
import { fsnotifyEffects } from '../families/fsnotify/index.js';
import { tracefsEffects } from '../families/tracefs/index.js';
import type { KernelEvent } from '../model/events.js';
import type { Effects, WorldState } from './state.js';

const EFFECTS: Effects<KernelEvent> = { ...fileEffects, ...epollEffects, ...dcacheEffects, ...fsnotifyEffects, ...tracefsEffects };

export type Effect = (w: WorldState, ev: KernelEvent) => void;

const BY_KIND = new Map(Object.entries(EFFECTS) as [string, Effect][]);

/** The effect of one kind of event on the World (undefined for a kind no family defines). */
export function effectOf(kind: string): Effect | undefined {
  return BY_KIND.get(kind);
}
