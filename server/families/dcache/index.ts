/** The dcache family: its events, their descriptions and their lifetime effects (README.md: adding a family). */
export * from './events.js';
export { describeDcache } from './describe.js';
export { dcacheEffects } from './effects.js';
