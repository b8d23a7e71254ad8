export { LIFETRACE_VERSION as VERSION } from '../record/record.js';
