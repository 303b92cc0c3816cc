/**
 * Encryption at rest of the secrets we must read back (integration tokens, webhook signing secrets):
 * AES-256-GCM with a random 96-bit nonce per value, the key id stored with each ciphertext so a key can
 * be rotated (the current key seals, retired keys in SECRETS_PREVIOUS_KEYS still open), and the column
 * the value belongs to bound as additional data so a ciphertext copied to another field does not open.
 *
 * Stored form: `enc:v1:<key id>:<nonce>:<tag>:<ciphertext>` (base64url). A value without the prefix is
 * a row written before encryption existed; it opens as itself until `reseal` encrypts it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, type Env } from './env';

const PREFIX = 'enc:v1:';

export class SecretDecryptionError extends Error {
  override name = 'SecretDecryptionError';
}

export interface SecretBox {
  /** Encrypts under the current key; `context` names the field (e.g. `integration:slack:bot_token`). */
  seal(plain: string, context: string): string;
  /** Decrypts a stored value (or returns a legacy plaintext value as it is). */
  open(stored: string, context: string): string;
  /** True when the value is already sealed under the current key (nothing for `reseal` to do). */
  isCurrent(stored: string): boolean;
  readonly keyId: string;
}

/** What a re-seal sweep did: rows re-sealed, and rows no configured key opens (left as they are). */
export interface ResealResult {
  resealed: number;
  unreadable: string[];
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

export function createSecretBox(
  current: { id: string; key: Buffer },
  previous: { id: string; key: Buffer }[] = [],
): SecretBox {
  const keys = new Map<string, Buffer>([
    ...previous.map((k) => [k.id, k.key] as const),
    [current.id, current.key],
  ]);
  for (const [id, key] of keys) {
    if (key.length !== 32) throw new ConfigError(`secrets key "${id}" must be 32 bytes, got ${key.length}`);
  }
  return {
    keyId: current.id,
    seal(plain, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return `${PREFIX}${current.id}:${iv.toString('base64url')}:${tag.toString('base64url')}:${ct.toString('base64url')}`;
    },
    open(stored, context) {
      if (!isSealed(stored)) return stored;
      const [id, iv, tag, ct] = stored.slice(PREFIX.length).split(':');
      const key = id ? keys.get(id) : undefined;
      if (!key || iv === undefined || tag === undefined || ct === undefined) {
        throw new SecretDecryptionError(
          key
            ? `a stored secret (${context}) is malformed`
            : `a stored secret (${context}) was sealed with key "${id}", which is neither SECRETS_KEY_ID nor in SECRETS_PREVIOUS_KEYS`,
        );
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        throw new SecretDecryptionError(`a stored secret (${context}) does not open with key "${id}"`);
      }
    },
    isCurrent(stored) {
      return stored.startsWith(`${PREFIX}${current.id}:`);
    },
  };
}

/** Reads the local key file, creating it (mode 600) on first use; concurrent first starts agree on one. */
function localKey(dataDir: string): Buffer {
  const file = join(dataDir, 'secrets-key');
  try {
    return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
}

const boxes = new Map<string, SecretBox>();

/**
 * The process's secret box from SECRETS_KEY (and SECRETS_PREVIOUS_KEYS). Outside production an unset
 * key is generated once into DATA_DIR/secrets-key, like the admin key; production demands it.
 */
export function secretBoxFromEnv(env: Env): SecretBox {
  const cacheKey = [
    env.SECRETS_KEY ?? `file:${env.DATA_DIR}`,
    env.SECRETS_KEY_ID,
    env.SECRETS_PREVIOUS_KEYS ?? '',
  ].join('\n');
  if (!env.SECRETS_KEY && env.NODE_ENV === 'production') {
    throw new ConfigError(
      'SECRETS_KEY: must be set in production (32 random bytes in base64: openssl rand -base64 32); it encrypts integration and webhook secrets',
    );
  }
  let box = boxes.get(cacheKey);
  if (box) return box;
  const key = env.SECRETS_KEY ? Buffer.from(env.SECRETS_KEY, 'base64') : localKey(env.DATA_DIR);
  const previous = (env.SECRETS_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const [id, b64] = p.split(':') as [string, string];
      return { id, key: Buffer.from(b64, 'base64') };
    });
  box = createSecretBox({ id: env.SECRETS_KEY_ID, key }, previous);
  boxes.set(cacheKey, box);
  return box;
}
