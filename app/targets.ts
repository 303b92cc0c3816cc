/**
 * Targets and their routing configs, once for every door (REST, gRPC, the CLI): create, read, list,
 * change and delete a target, its segments and its arms; read a segment's routing config (current, one
 * version, its history) and write a new version. The adapters translate the wire format and the caller's
 * identity; this module decides, and answers with domain results or `AppError`s.
 *
 * - Changes are optimistic: the caller names what it last read by its ETag. A target's ETag is its
 *   revision (`"r<revision>"`, bumped by every change to it, its segments or its arms); a routing
 *   config's is its version and a digest of the exact JSON served (`configEtag`). Where a change needs
 *   one, its absence is `precondition_required`; a stale one, or one that is no ETag of ours, is
 *   `precondition_failed`.
 * - Routing-config history is append-only: a new version never rewrites an old one.
 * - A deleted segment (or target) stops being served by every process at once: the routing-config
 *   cache drops it through the invalidation bus.
 * - Who changed what is recorded by the audit trail of the door (api/middleware/audit.ts), with the
 *   caller as its actor; the caller is taken here so that every change names one.
 */
import { createHash } from 'node:crypto';
import { AppError, conflict, notFound } from '../domain/errors';
import {
  Arm as ArmSchema,
  TOTAL_BASIS_POINTS,
  type Arm,
  type RoutingConfig,
  type Target,
  type TargetPolicy,
  type Weights,
} from '../domain/model';
import { DEFAULT_SEGMENT } from '../domain/names';
import type { RoutingConfigCache } from '../adapters/cache';
import type { TargetCatalogRepo } from '../adapters/db/repos/target-catalog';
import type { TargetsRepo } from '../adapters/db/repos/targets';
import type { Caller } from './caller';

export type { Caller };

/** What the service needs; the container of app/compose.ts (and `ApiDeps`) has these fields. */
export interface TargetsDeps {
  /** The targets repository is the cached one where there is a cache: each version written is announced. */
  repos: { targets: TargetsRepo; targetCatalog: TargetCatalogRepo };
  /** Routing configs are read through the first tiers of the cache when there is one. */
  caches: { routingConfigs?: RoutingConfigCache };
}

interface Serialized {
  body: string;
  bytes: Buffer;
  length: string;
  etag: string;
}

/**
 * The JSON and ETag of a routing config, computed once per config object: the cache hands out the same
 * object until a new version replaces it, so a poll costs a WeakMap lookup instead of a JSON.stringify.
 */
const SERIALIZED = new WeakMap<RoutingConfig, Serialized>();
export function serializedConfig(cfg: RoutingConfig): Serialized {
  let s = SERIALIZED.get(cfg);
  if (!s) {
    const body = JSON.stringify(cfg);
    const bytes = Buffer.from(body);
    const digest = createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
    s = { body, bytes, length: String(bytes.length), etag: `"v${cfg.version}.${digest}"` };
    SERIALIZED.set(cfg, s);
  }
  return s;
}

/**
 * The ETag of a routing config: its version and a digest of the exact JSON served (a strong validator).
 * The version alone repeats: a target deleted and created again starts over at version 1, and a poller
 * holding the old lifetime's ETag would be told "not modified" about a different config. The digest
 * covers every field, creation time included, so a 304 means the very same answer. Taken in If-None-Match
 * by the config read and the SDK, and as the expected ETag of `setConfig`.
 */
export const configEtag = (cfg: RoutingConfig): string => serializedConfig(cfg).etag;

/** The version an ETag of `configEtag` names, or undefined when the value is no such ETag. */
export function configEtagVersion(etag: string): number | undefined {
  const m = /^(?:W\/)?"v(\d{1,9})\.[A-Za-z0-9_-]{22}"$/.exec(etag.trim());
  return m ? Number(m[1]) : undefined;
}

/** A target's ETag is its revision, bumped by every change to it, its segments or its arms. */
export const targetEtag = (t: Pick<Target, 'revision'>) => `"r${t.revision}"`;

const unquote = (v: string) =>
  v
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');

/** The ETag a change needs, present. */
function required(etag: string | undefined): string {
  if (etag === undefined || etag.trim() === '') {
    throw new AppError('precondition_required', 'this update needs If-Match with the ETag you last read', {
      issues: [{ path: 'header.if-match', message: 'required' }],
    });
  }
  return etag;
}

/** The revision an ETag names; a value that is no revision of ours can never match. */
function revisionOf(etag: string, target: string): number {
  const m = /^r(\d{1,9})$/.exec(unquote(etag));
  if (!m)
    throw new AppError(
      'precondition_failed',
      `If-Match does not name a revision of target "${target}" (expected "r<revision>")`,
    );
  return Number(m[1]);
}

const optionalRevision = (etag: string | undefined, target: string) =>
  etag ? revisionOf(etag, target) : undefined;

function checkWeights(weights: Weights, arms: string[]) {
  const known = new Set(arms);
  const unknown = Object.keys(weights).filter((a) => !known.has(a));
  if (unknown.length > 0) {
    throw new AppError(
      'validation',
      `weights name arm(s) not among the target's arms: ${unknown.join(', ')}`,
      {
        issues: unknown.map((a) => ({ path: `weights.${a}`, message: 'unknown arm' })),
      },
    );
  }
}

export interface NewTargetInput {
  name: string;
  description: string;
  policy: TargetPolicy;
  arms: Arm[];
  segments: string[];
  /** Initial weights of every segment; absent, the first arm serves all traffic. */
  weights?: Weights | undefined;
}

export interface SegmentView {
  target: string;
  name: string;
  config: RoutingConfig;
}

/** A target with the ETag a change to it takes. */
export interface TargetRead {
  target: Target;
  etag: string;
}

/** A routing-config version with its ETag. */
export interface ConfigRead {
  config: RoutingConfig;
  etag: string;
}

export type TargetsService = ReturnType<typeof createTargetsService>;

export function createTargetsService(deps: TargetsDeps) {
  return { ...targetUseCases(deps), ...segmentAndArmUseCases(deps), ...configUseCases(deps) };
}

/** The target itself: create, read, list, change its description or policy, delete it. */
function targetUseCases(deps: TargetsDeps) {
  const { targets, targetCatalog: catalog } = deps.repos;
  const withEtag = (t: Target): TargetRead => ({ target: t, etag: targetEtag(t) });

  return {
    async create(_caller: Caller, input: NewTargetInput): Promise<Target> {
      const weights = input.weights ?? { [input.arms[0]!.id]: TOTAL_BASIS_POINTS };
      return targets.create({ ...input, weights });
    },

    /** Targets by name, `limit` of them after `after`. */
    list: (page: { limit: number; after?: string }): Promise<Target[]> => targets.list(page),

    get: async (name: string): Promise<TargetRead> => withEtag(await targets.require(name)),

    async update(
      _caller: Caller,
      name: string,
      ifMatch: string | undefined,
      patch: { description?: string; policy?: TargetPolicy },
    ): Promise<TargetRead> {
      const expected = required(ifMatch);
      await targets.require(name);
      await catalog.update(name, revisionOf(expected, name), patch);
      return withEtag(await targets.require(name));
    },

    async remove(_caller: Caller, name: string, ifMatch?: string): Promise<void> {
      const segments = (await targets.get(name))?.segments ?? [];
      await catalog.remove(name, optionalRevision(ifMatch, name));
      await forgetConfigs(deps, name, segments);
    },
  };
}

// A deleted segment's config must stop being served everywhere: every process's routing-config cache
// drops it through the invalidation bus (and Redis's copy goes), within milliseconds.
async function forgetConfigs(deps: TargetsDeps, target: string, segments: string[]) {
  const cache = deps.caches.routingConfigs;
  if (cache) await Promise.all(segments.map((s) => cache.invalidate(target, s)));
}

/** A target's segments (each with its current routing config) and arms. */
function segmentAndArmUseCases(deps: TargetsDeps) {
  const { targets, targetCatalog: catalog } = deps.repos;

  const segmentView = async (target: string, segment: string): Promise<SegmentView> => {
    const config = await targets.currentConfig(target, segment);
    if (!config) throw notFound(`segment "${segment}" of target "${target}"`);
    return { target, name: segment, config };
  };

  const findArm = async (target: string, arm: string) => {
    const found = (await targets.require(target)).arms.find((a) => a.id === arm);
    if (!found) throw notFound(`arm "${arm}" of target "${target}"`);
    return found;
  };

  return {
    async listSegments(target: string): Promise<SegmentView[]> {
      const t = await targets.require(target);
      return Promise.all(t.segments.map((s) => segmentView(target, s)));
    },

    async getSegment(target: string, segment: string): Promise<SegmentView> {
      await targets.require(target);
      return segmentView(target, segment);
    },

    /** Adds a segment with version 1 of its config: `weights`, else the default segment's current ones. */
    async createSegment(
      _caller: Caller,
      target: string,
      input: { name: string; weights?: Weights | undefined },
      ifMatch?: string,
    ): Promise<SegmentView> {
      const t = await targets.require(target);
      let weights = input.weights;
      if (weights)
        checkWeights(
          weights,
          t.arms.map((a) => a.id),
        );
      weights ??= (await targets.currentConfig(target, DEFAULT_SEGMENT))?.weights ?? {
        [t.arms[0]!.id]: TOTAL_BASIS_POINTS,
      };
      await catalog.addSegment(target, input.name, weights, optionalRevision(ifMatch, target));
      return segmentView(target, input.name);
    },

    async removeSegment(_caller: Caller, target: string, segment: string, ifMatch?: string): Promise<void> {
      if (segment === DEFAULT_SEGMENT)
        throw conflict(`the "${DEFAULT_SEGMENT}" segment serves unsegmented traffic and cannot be removed`);
      await catalog.removeSegment(target, segment, optionalRevision(ifMatch, target));
      await forgetConfigs(deps, target, [segment]);
    },

    listArms: async (target: string): Promise<Arm[]> => (await targets.require(target)).arms,

    getArm: (target: string, arm: string): Promise<Arm> => findArm(target, arm),

    async createArm(_caller: Caller, target: string, arm: Arm, ifMatch?: string): Promise<Arm> {
      await targets.require(target);
      await catalog.addArm(target, arm, optionalRevision(ifMatch, target));
      return findArm(target, arm.id);
    },

    /** Changes the fields given; the answer's ETag is the target's revision after the change. */
    async updateArm(
      _caller: Caller,
      target: string,
      arm: string,
      ifMatch: string | undefined,
      patch: Partial<Omit<Arm, 'id'>>,
    ): Promise<{ arm: Arm; etag: string }> {
      const expected = required(ifMatch);
      const current = await findArm(target, arm);
      const next = ArmSchema.parse({ ...current, ...patch, id: arm });
      await catalog.updateArm(target, next, revisionOf(expected, target));
      const t = await targets.require(target);
      return { arm: t.arms.find((a) => a.id === arm)!, etag: targetEtag(t) };
    },

    async removeArm(_caller: Caller, target: string, arm: string, ifMatch?: string): Promise<void> {
      await catalog.removeArm(target, arm, optionalRevision(ifMatch, target));
    },
  };
}

/** A segment's routing config: read (current, one version, the history) and a new version written. */
function configUseCases(deps: TargetsDeps) {
  const { targets } = deps.repos;

  return {
    /**
     * The current routing config, from the cache's tiers where there is one (applications poll it: it
     * learns of new versions by pub/sub). Its ETag is `configEtag(config)`, computed once per version.
     * `target` and `segment` are names each door has validated (TargetName, SegmentName) in its wire's
     * terms: REST once per distinct URL (config-read.ts), which keeps a zod parse off every poll.
     */
    async config(target: string, segment: string): Promise<RoutingConfig> {
      const cached = deps.caches.routingConfigs;
      const cfg = cached ? await cached.get(target, segment) : await targets.currentConfig(target, segment);
      if (cfg) return cfg;
      if (!(await targets.get(target))) throw notFound(`target "${target}"`);
      throw notFound(`segment "${segment}" of target "${target}"`);
    },

    /**
     * Writes a new version of the segment's routing config, if and only if its current version is still
     * the one whose ETag (`configEtag`) the caller read. History stays append-only.
     */
    async setConfig(
      _caller: Caller,
      target: string,
      segment: string,
      ifMatch: string | undefined,
      input: { weights: Weights; reason: string },
    ): Promise<ConfigRead> {
      const etag = required(ifMatch);
      const t = await targets.require(target);
      if (!t.segments.includes(segment)) throw notFound(`segment "${segment}" of target "${target}"`);
      checkWeights(
        input.weights,
        t.arms.map((a) => a.id),
      );
      const expectedVersion = configEtagVersion(etag);
      if (expectedVersion === undefined) {
        throw new AppError(
          'precondition_failed',
          `If-Match does not name a version of ${target}/${segment} (expected the ETag of GET .../config)`,
        );
      }
      // The version number says which version the caller read; the ETag as a whole says it is still that
      // one (not the same number in a target deleted and created again since). Both are held in the write.
      const strong = etag.trim().replace(/^W\//, '');
      // appendConfig goes through the shared repository, so the routing-config cache learns of the version.
      const cfg = await targets.appendConfig({
        target,
        segment,
        expectedVersion,
        matchesRead: (current) => configEtag(current) === strong,
        weights: input.weights,
        rolloutId: null,
        reason: input.reason,
      });
      return { config: cfg, etag: configEtag(cfg) };
    },

    /** Versions newest first, `limit` of them older than `before`; an unknown target or segment is not found. */
    async history(
      target: string,
      segment: string,
      page: { limit: number; before?: number | undefined },
    ): Promise<RoutingConfig[]> {
      const items = await targets.configHistory(target, segment, page.limit, page.before);
      if (items.length === 0 && page.before === undefined) {
        await targets.require(target);
        throw notFound(`segment "${segment}" of target "${target}"`);
      }
      return items;
    },

    async version(target: string, segment: string, version: number): Promise<ConfigRead> {
      const cfg = await targets.configVersion(target, segment, version);
      if (!cfg) throw notFound(`version ${version} of ${target}/${segment}`);
      return { config: cfg, etag: configEtag(cfg) };
    },
  };
}
