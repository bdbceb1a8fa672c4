/**
 * Unknown-field detection. The published JSON schemas (kubernetes-models) check types, enums and
 * required fields but accept any extra key (Kubernetes prunes unknown fields silently, so a typo
 * such as `readinesProbe` would be dropped at apply time). The same packages ship TypeScript
 * interfaces for every kind; this walks a generated object against them with the TypeScript
 * compiler API and reports every key the interface does not declare.
 */
import path from 'node:path';
import ts from 'typescript';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** apiVersion/kind → [module, interface]. */
const INTERFACES: Record<string, [string, string]> = {
  'v1/Namespace': ['kubernetes-models/v1/Namespace', 'INamespace'],
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/Secret', 'ISecret'],
  'v1/ServiceAccount': ['kubernetes-models/v1/ServiceAccount', 'IServiceAccount'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  'rbac.authorization.k8s.io/v1/Role': ['kubernetes-models/rbac.authorization.k8s.io/v1/Role', 'IRole'],
  'rbac.authorization.k8s.io/v1/RoleBinding': ['kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding', 'IRoleBinding'],
  'security.istio.io/v1/PeerAuthentication': ['@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication', 'IPeerAuthentication'],
  'security.istio.io/v1/AuthorizationPolicy': ['@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy', 'IAuthorizationPolicy'],
  'networking.istio.io/v1/Sidecar': ['@kubernetes-models/istio/networking.istio.io/v1/Sidecar', 'ISidecar'],
  'networking.istio.io/v1/DestinationRule': ['@kubernetes-models/istio/networking.istio.io/v1/DestinationRule', 'IDestinationRule'],
  'networking.istio.io/v1/VirtualService': ['@kubernetes-models/istio/networking.istio.io/v1/VirtualService', 'IVirtualService'],
  'networking.istio.io/v1/ServiceEntry': ['@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry', 'IServiceEntry'],
  'networking.istio.io/v1/Gateway': ['@kubernetes-models/istio/networking.istio.io/v1/Gateway', 'IGateway'],
  'telemetry.istio.io/v1/Telemetry': ['@kubernetes-models/istio/telemetry.istio.io/v1/Telemetry', 'ITelemetry'],
};

/** Kinds without a published interface, whose fields support.ts checks by hand. */
const HAND_CHECKED = new Set(['monitoring.coreos.com/v1/PodMonitor']);

let cache: { checker: ts.TypeChecker; types: Map<string, ts.Type> } | undefined;

function load() {
  if (cache) return cache;
  const probe = path.join(ROOT, 'test/unit/k8s/__known_fields_probe__.ts');
  const keys = Object.keys(INTERFACES);
  const source =
    keys.map((k, i) => `import type { ${INTERFACES[k][1]} as T${i} } from '${INTERFACES[k][0]}';`).join('\n') +
    '\n' +
    keys.map((_k, i) => `export declare const v${i}: T${i};`).join('\n') +
    '\n';
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === probe ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === probe || fileExists(name);
  const program = ts.createProgram([probe], options, host);
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(probe)!;
  const unresolved = ts.getPreEmitDiagnostics(program, sf).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  if (unresolved.length > 0) throw new Error(`known-fields: cannot load the model interfaces: ${unresolved.join('; ')}`);
  const types = new Map<string, ts.Type>();
  const moduleSymbol = checker.getSymbolAtLocation(sf)!;
  const exports = checker.getExportsOfModule(moduleSymbol);
  keys.forEach((k, i) => {
    const sym = exports.find((e) => e.name === `v${i}`)!;
    types.set(k, checker.getTypeOfSymbol(sym));
  });
  cache = { checker, types };
  return cache;
}

function flatten(checker: ts.TypeChecker, types: ts.Type[]): ts.Type[] {
  const out: ts.Type[] = [];
  for (const t0 of types) {
    const t = checker.getNonNullableType(t0);
    if (t.isUnion()) out.push(...flatten(checker, t.types));
    else out.push(t);
  }
  return out;
}

function walk(checker: ts.TypeChecker, value: unknown, candidates: ts.Type[], at: string, out: string[]): void {
  const types = flatten(checker, candidates);
  if (Array.isArray(value)) {
    const elems = types.flatMap((t) => (checker.isArrayType(t) ? [checker.getTypeArguments(t as ts.TypeReference)[0]] : []));
    if (elems.length === 0) return;
    value.forEach((v, i) => walk(checker, v, elems, `${at}/${i}`, out));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const objects = types.filter((t) => (t.flags & ts.TypeFlags.Object) !== 0 || t.isIntersection());
  if (objects.length === 0) return;
  for (const [key, v] of Object.entries(value)) {
    const next: ts.Type[] = [];
    for (const t of objects) {
      const prop = checker.getPropertyOfType(t, key);
      if (prop) next.push(checker.getTypeOfSymbol(prop));
      else {
        const index = checker.getIndexTypeOfType(t, ts.IndexKind.String);
        if (index) next.push(index);
      }
    }
    if (next.length === 0) out.push(`${at}/${key}`);
    else walk(checker, v, next, `${at}/${key}`, out);
  }
}

/** JSON pointers of every key the model's interface does not declare; throws for an unmapped kind. */
export function unknownFields(obj: { apiVersion: string; kind: string }): string[] {
  const { checker, types } = load();
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (HAND_CHECKED.has(key)) return [];
  const type = types.get(key);
  if (!type) throw new Error(`known-fields: no interface mapped for ${key}`);
  const out: string[] = [];
  walk(checker, obj, [type], '', out);
  return out;
}
