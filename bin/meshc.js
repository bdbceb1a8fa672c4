#!/usr/bin/env node
// The `meshc` command. CommonJS on purpose (bin/package.json): it runs before libuv starts its
// thread pool (an ES module entry is itself read through the pool), so it can size the pool. One thread, unless
// UV_THREADPOOL_SIZE says otherwise: a build's file writes are thousands of small files, and on
// two cores each extra pool thread cost more in wake-ups than it overlapped (measured at 1,000
// services, warm build into /dev/shm: 1077 -> 1008 ms; the cold build and `meshc diff` no slower).
'use strict';
if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '1';
import('../dist/cli/main.js');
