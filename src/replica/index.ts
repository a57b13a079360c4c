export { Replica } from './replica.js';
export type * from './types.js';
