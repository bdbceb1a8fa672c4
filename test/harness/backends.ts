/** Moved to src/local/backends.ts (`meshc up` and `meshc test --live` run on it); re-exported for the tests. */
export * from '../../src/local/backends.js';
