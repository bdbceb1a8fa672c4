import { describe, expect, it } from 'vitest';
import { manifestText, parseManifest, type FileRecord } from '../../src/output/manifest.js';

describe('manifestText', () => {
  it('lists files by path in code-unit order, whatever the order of the records', () => {
    const records: FileRecord[] = [
      { path: 'k8s/svc-b.yaml', sha256: 'b'.repeat(64), size: 12, mode: 0o644 },
      { path: 'secrets/svc-a.key', sha256: 'c'.repeat(64), size: 0, mode: 0o600 },
      { path: 'K8s/upper.yaml', sha256: '0'.repeat(64), size: 1, mode: 0o644 },
      { path: 'k8s/svc-a.yaml', sha256: 'a'.repeat(64), size: 5, mode: 0o644 },
    ];
    const text = manifestText(records);
    expect(manifestText([...records].reverse())).toBe(text);
    expect(Object.keys(parseManifest(text)!.files)).toEqual(['K8s/upper.yaml', 'k8s/svc-a.yaml', 'k8s/svc-b.yaml', 'secrets/svc-a.key']);
    expect(parseManifest(text)?.files['secrets/svc-a.key']).toEqual({ sha256: 'c'.repeat(64), mode: '600', size: 0 });
  });

  it('keeps the last record of a repeated path', () => {
    const twice: FileRecord[] = [
      { path: 'a/x', sha256: '1'.repeat(64), size: 1, mode: 0o644 },
      { path: 'a/x', sha256: '2'.repeat(64), size: 2, mode: 0o600 },
    ];
    expect(parseManifest(manifestText(twice))?.files['a/x']).toEqual({ sha256: '2'.repeat(64), mode: '600', size: 2 });
  });
});
