/** meshc as a library: `import { build, validate } from 'meshc'`. */
export { build, compile, type BuildOptions, type BuildResult } from './pipeline/build.js';
export { defaultStateDir } from './certs/location.js';
export { validate, type ValidateOptions, type ValidateResult } from './pipeline/validate.js';
export { normalize } from './model/normalize.js';
export type { Mesh, Service } from './model/mesh.js';
export type { Diagnostic } from './model/diagnostic.js';
export type { OutputFile, Target } from './targets/target.js';
export { TARGETS } from './targets/registry.js';
export { UserError } from './errors.js';
export { diffOutput, diffAgainstRef } from './output/diff.js';
export { renderGraph } from './graph/index.js';
export { certsStatus, certsRotate } from './certs/index.js';
