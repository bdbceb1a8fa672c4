import { describe, expect, it } from 'vitest';
import { manifestText, parseManifest, type FileRecord, type Manifest } from '../../src/output/manifest.js';
import { toJson } from '../../src/output/yaml.js';

/** The manifest as the generic serializer writes it: what manifestText must equal, byte for byte. */
function reference(records: readonly FileRecord[]): string {
  const files: Manifest['files'] = {};
  for (const r of records) files[r.path] = { sha256: r.sha256, mode: r.mode.toString(8), size: r.size };
  return toJson({ generator: 'meshc', formatVersion: 1, files } satisfies Manifest);
}

describe('manifestText', () => {
  it('writes exactly what toJson writes, for any order of records', () => {
    const records: FileRecord[] = [
      { path: 'k8s/svc-b.yaml', sha256: 'b'.repeat(64), size: 12, mode: 0o644 },
      { path: 'secrets/svc-a.key', sha256: 'c'.repeat(64), size: 0, mode: 0o600 },
      { path: '.gitignore', sha256: 'd'.repeat(64), size: 3, mode: 0o644 },
      { path: 'certs/ingress/_wildcard.shop.example.pem', sha256: 'e'.repeat(64), size: 99, mode: 0o644 },
      { path: 'envoy/"quoted" \\ ü.yaml', sha256: 'f'.repeat(64), size: 7, mode: 0o755 },
      { path: 'K8s/upper.yaml', sha256: '0'.repeat(64), size: 1, mode: 0o644 },
      { path: 'k8s/svc-a.yaml', sha256: 'a'.repeat(64), size: 5, mode: 0o644 },
    ];
    for (const order of [records, [...records].reverse(), [...records.slice(3), ...records.slice(0, 3)]]) expect(manifestText(order)).toBe(reference(order));
    expect(parseManifest(manifestText(records))?.files['k8s/svc-a.yaml']).toEqual({ sha256: 'a'.repeat(64), mode: '644', size: 5 });
  });

  it('writes an empty manifest and keeps the last record of a repeated path, as an object would', () => {
    expect(manifestText([])).toBe(reference([]));
    const twice: FileRecord[] = [
      { path: 'a/x', sha256: '1'.repeat(64), size: 1, mode: 0o644 },
      { path: 'a/x', sha256: '2'.repeat(64), size: 2, mode: 0o600 },
    ];
    expect(manifestText(twice)).toBe(reference(twice));
  });
});
