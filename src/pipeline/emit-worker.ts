/** The worker side of emit.ts: emits the named targets and posts their files back. */
import { parentPort, workerData } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
import { TARGETS } from '../targets/registry.js';

const { names, mesh, certs } = workerData as { names: string[]; mesh: Mesh; certs: CertMaterial };
parentPort!.postMessage(TARGETS.filter((t) => names.includes(t.name)).flatMap((t) => t.emit(mesh, certs)));
