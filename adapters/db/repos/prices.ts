/** The versioned price table: a change appends a version; events are priced at the version in force. */
import { DEFAULT_PRICES, PriceBook, type ModelPriceInput, type PriceVersion } from '../../../domain/pricing';
import { withTransaction, type Db } from '../pool';

interface PriceRow {
  model: string;
  version: number;
  provider: string | null;
  input_usd_per_mtok: number;
  output_usd_per_mtok: number;
  effective_from: Date;
  created_at: Date;
}

const toPrice = (r: PriceRow): PriceVersion => ({
  model: r.model,
  version: r.version,
  provider: r.provider,
  input_usd_per_mtok: r.input_usd_per_mtok,
  output_usd_per_mtok: r.output_usd_per_mtok,
  effective_from: r.effective_from.toISOString(),
  created_at: r.created_at.toISOString(),
});

export function createPricesRepo(db: Db) {
  return {
    /** Current version of every model's price. */
    async current(): Promise<PriceVersion[]> {
      const r = await db.query<PriceRow>(
        `SELECT DISTINCT ON (model) * FROM model_prices ORDER BY model, version DESC`,
      );
      return r.rows.map(toPrice);
    },

    async history(model: string): Promise<PriceVersion[]> {
      const r = await db.query<PriceRow>(
        'SELECT * FROM model_prices WHERE model = $1 ORDER BY version DESC',
        [model],
      );
      return r.rows.map(toPrice);
    },

    /** Appends a new version; effective from `effectiveFrom` (default now). */
    async set(
      p: Required<Omit<ModelPriceInput, 'provider'>> & { provider?: string | null },
      effectiveFrom?: string,
    ): Promise<PriceVersion> {
      return withTransaction(db, async (tx) => {
        // Serialize writers of one model so two concurrent edits get distinct versions.
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`price:${p.model}`]);
        const r = await tx.query<PriceRow>(
          `INSERT INTO model_prices (model, version, provider, input_usd_per_mtok, output_usd_per_mtok, effective_from)
           SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, COALESCE($5::timestamptz, now())
             FROM model_prices WHERE model = $1
           RETURNING *`,
          [p.model, p.provider ?? null, p.input_usd_per_mtok, p.output_usd_per_mtok, effectiveFrom ?? null],
        );
        return toPrice(r.rows[0]!);
      });
    },

    /** Every version of every model, with the built-in defaults under models the table lacks. */
    async book(): Promise<PriceBook> {
      const r = await db.query<PriceRow>('SELECT * FROM model_prices ORDER BY model, version');
      const rows = r.rows.map(toPrice);
      const known = new Set(rows.map((p) => p.model));
      const defaults = DEFAULT_PRICES.filter((p) => !known.has(p.model)).map((p) => ({
        ...p,
        effective_from: new Date(0).toISOString(),
      }));
      return new PriceBook([...defaults, ...rows]);
    },
  };
}

export type PricesRepo = ReturnType<typeof createPricesRepo>;
