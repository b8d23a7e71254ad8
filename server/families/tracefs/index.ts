/** The tracefs family: its events, their descriptions and their lifetime effects (README.md: adding a family). */
export * from './events.js';
export { describeTracefs } from './describe.js';
export { tracefsEffects } from './effects.js';
