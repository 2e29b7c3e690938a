/**
 * The rendering layer of the `vhw` CLI: terminal tables, CSV, SVG charts, page maps and the
 * HTML report, all pure functions of the result contract in `../result.ts`.
 */
export { runTable, sweepTable, type TableOptions } from './table.js';
export { toCsv, csvField, csvAsPrintedLine, TRAP_COLUMN_PREFIX, TRAP_REASONS } from './csv.js';
export { sweepChartSvg, varyChartSvg, renderVegaLiteSvg, type SweepChartOptions, type VaryChartOptions } from './charts.js';
export { ratioChartSvg, type RatioChartOptions } from './ratio-chart.js';
export { pageMapSvg, pageMapText, type PageMapSvgOptions } from './page-map.js';
export { htmlReport, inlineSvg, type HtmlReportInput, type CostRow, type MachineRow } from './html-report.js';
export {
  COMBO_ORDER,
  comboRank,
  groupKey,
  speedupsVsNone,
  dominantReason,
  displayOrder,
  formatInt,
  formatSpeedup,
  formatNs,
  formatBytes,
  hex,
  escapeXml,
  varyFieldLabel,
} from './format.js';
