// Property tests draw from one seed given by FC_SEED (scripts/run-tests.mjs
// sets a fixed one for `make test`), so a CI run is reproducible and a red
// run is a real regression, not a rare draw; fast-check prints the seed and
// path of any failure either way. Without FC_SEED (or with FC_SEED=random)
// every run draws new cases: that is how new counterexamples are found
// (`FC_SEED=random make test`, or plain `npx vitest`). A property that sets
// its own seed keeps it.
import fc from 'fast-check';

const raw = process.env['FC_SEED'];
if (raw !== undefined && raw !== '' && raw !== 'random') {
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer or "random" (got ${JSON.stringify(raw)})`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
}
