/**
 * The parts of one result row the golden files record (costs and timing fields aside): what
 * a refactor must not change. Shared by the golden sweeps and by every test that compares a
 * run against those files.
 */
export function goldenRow(row: Record<string, unknown>): Record<string, unknown> {
  const { scenario, platform, variant, patches, seed, workload, mmio, bars, isolation, topTrappedPages } = row;
  // An area's `via` (issue 15) restates how its reason is served; the files predate it.
  const areasWithoutVia = (bars as Array<{ areas: Array<Record<string, unknown>> }>).map((b) => ({
    ...b,
    areas: b.areas.map(({ via: _via, ...a }) => a),
  }));
  return { scenario, platform, variant, patches, seed, workload, mmio, bars: areasWithoutVia, isolation, topTrappedPages };
}
