/** Moved to src/local/procs.ts (`meshc up` and `meshc test --live` run on it); re-exported for the tests. */
export * from '../../src/local/procs.js';
