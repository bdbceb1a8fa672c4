/** Moved to src/local/clients.ts (`meshc up` and `meshc test --live` run on it); re-exported for the tests. */
export * from '../../src/local/clients.js';
