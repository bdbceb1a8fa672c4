/**
 * The private keys of a state, as a build sees them. A real build or rotation needs every key
 * (`required`): a missing passphrase, a wrong one, or keys that are not here stop it (exit 2)
 * before anything is issued or written. Comparing (`build --check`, `diff`) needs none
 * (`optional`): with the keys absent or encrypted without a passphrase it works from the public
 * part alone, and what it cannot compare (files under `secrets/`) it leaves out.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { certKeyId, ENCRYPTED_KEYS_FILE, PLAIN_KEYS_FILE, storeKey, type KeyMap, type StoredKeys } from './state.js';

export type KeyNeed = 'required' | 'optional';

const PLAIN_HEADER = '-----BEGIN PRIVATE KEY-----\n';

/** Stands in for a key a comparison does not have; it only ever reaches files under `secrets/`. */
export const KEY_NOT_LOADED = `${PLAIN_HEADER}bm90IGxvYWRlZA==\n-----END PRIVATE KEY-----\n`;

function decrypt(pem: string, passphrase: string, stateDir: string): KeyObject {
  try {
    return crypto.createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch {
    throw new UserError(`wrong MESHC_STATE_PASSPHRASE for certificate state ${stateDir}`, 2);
  }
}

function encryptedNeedsPassphrase(stateDir: string): UserError {
  return new UserError(
    `certificate state ${stateDir} keeps its private keys encrypted (${ENCRYPTED_KEYS_FILE}); set MESHC_STATE_PASSPHRASE to its passphrase`,
    2,
    'build --check, diff and certs status need no passphrase',
  );
}

/** Checks a passphrase against the encrypted keys (one decryption); UserError when it is missing or wrong. */
function verify(encrypted: KeyMap | undefined, passphrase: string | undefined, stateDir: string, need: KeyNeed): boolean {
  const ids = Object.keys(encrypted ?? {}).sort();
  if (ids.length === 0) return false;
  if (passphrase === undefined || passphrase === '') {
    if (need === 'required') throw encryptedNeedsPassphrase(stateDir);
    return false;
  }
  decrypt(encrypted![ids[0]!]!, passphrase, stateDir);
  return true;
}

/**
 * For the rebuild shortcut, which reads no state: a build with a missing, empty or wrong
 * passphrase for encrypted keys stops (exit 2) even when nothing changed.
 */
export function checkPassphrase(stateDir: string, passphrase: string | undefined): void {
  let text: string;
  try {
    text = readFileSync(path.join(stateDir, ENCRYPTED_KEYS_FILE), 'utf8');
  } catch {
    return;
  }
  let keys: KeyMap | undefined;
  try {
    keys = (JSON.parse(text) as { keys?: KeyMap }).keys;
  } catch {
    return; // unreadable: the full path reports it
  }
  verify(keys, passphrase, stateDir, 'required');
}

export class KeyRing {
  private readonly decrypted = new Map<string, string>();
  private readonly encryptedUsable: boolean;
  private readonly passphrase: string | undefined;
  /** False once a key was asked for and was not here (optional only). */
  complete = true;

  constructor(
    private readonly stored: StoredKeys,
    passphrase: string | undefined,
    private readonly stateDir: string,
    readonly need: KeyNeed,
  ) {
    this.passphrase = passphrase === '' ? undefined : passphrase;
    this.encryptedUsable = verify(stored.encrypted, this.passphrase, stateDir, need);
  }

  /** Whether new keys are stored encrypted (a passphrase is set). */
  get encrypt(): boolean {
    return this.passphrase !== undefined;
  }

  /**
   * The plain PKCS#8 PEM of a certificate's key; undefined when it is not here (optional), a
   * UserError naming the certificate when it is required.
   */
  plainPem(certPem: string, label: string): string | undefined {
    const id = certKeyId(certPem);
    const plain = this.stored.plain?.[id];
    if (plain !== undefined) {
      // Written by meshc as plain PKCS#8: shipped as is (re-exporting gives the same bytes).
      if (!plain.startsWith(PLAIN_HEADER)) throw new UserError(`certificate state ${this.stateDir} is unreadable: the key of ${label} is not a PKCS#8 PEM key`);
      return plain;
    }
    const encrypted = this.stored.encrypted?.[id];
    if (encrypted !== undefined && this.encryptedUsable) {
      let pem = this.decrypted.get(id);
      if (pem === undefined) {
        pem = decrypt(encrypted, this.passphrase!, this.stateDir).export({ type: 'pkcs8', format: 'pem' }) as string;
        this.decrypted.set(id, pem);
      }
      return pem;
    }
    if (this.need === 'required') {
      if (encrypted !== undefined) throw encryptedNeedsPassphrase(this.stateDir);
      throw new UserError(
        `certificate state ${this.stateDir} has no private key for ${label}: only its public part is here (${PLAIN_KEYS_FILE} is never committed)`,
        2,
        `build where the keys are, or commit them encrypted (build once with MESHC_STATE_PASSPHRASE set, then commit ${ENCRYPTED_KEYS_FILE}); build --check, diff and certs status need no keys`,
      );
    }
    this.complete = false;
    return undefined;
  }

  /** Whether the stored key was decrypted from the encrypted store (then it is checked against its certificate). */
  fromEncrypted(certPem: string): boolean {
    return this.decrypted.has(certKeyId(certPem));
  }

  /** The key as the next state stores it: kept as it is when the encryption setting is unchanged. */
  storedForm(certPem: string, plainPem: string): string {
    const id = certKeyId(certPem);
    if (this.encrypt) return this.stored.encrypted?.[id] ?? storeKey(crypto.createPrivateKey(plainPem), this.passphrase);
    return this.stored.plain?.[id] ?? plainPem;
  }
}
