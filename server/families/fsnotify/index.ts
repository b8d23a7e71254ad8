/** The fsnotify family: its events, their descriptions and their lifetime effects (README.md: adding a family). */
export * from './events.js';
export { describeFsnotify } from './describe.js';
export { fsnotifyEffects } from './effects.js';
