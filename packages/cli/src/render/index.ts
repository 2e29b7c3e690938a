/**
 * The rendering layer of the `vhw` CLI: terminal tables, CSV, SVG charts, page maps and the
 * HTML report, all pure functions of the result contract in `../result.ts`.
 */
export { runTable, sweepTable, type TableOptions } from './table.js';
export { toCsv, csvField, csvAsPrintedLine, TRAP_COLUMN_PREFIX, TRAP_REASONS } from './csv.js';
export {
  sweepChartSvg,
  varyChartSvg,
  heatMapSvg,
  isLogSpaced,
  renderVegaLiteSvg,
  type SweepChartOptions,
  type VaryChartOptions,
  type HeatMapOptions,
} from './charts.js';
export {
  pageMapSvg,
  pageMapText,
  relocatedBarsOf,
  type PageMapSvgOptions,
  type PageMapMark,
  type PageMapBarInfo,
  type PageMapEmulatedBar,
} from './page-map.js';
export {
  htmlReport,
  inlineSvg,
  reportCharts,
  reportSummary,
  type HtmlReportInput,
  type CostRow,
  type MachineRow,
  type ReportChart,
} from './html-report.js';
export { ratioChartSvg, type RatioChartOptions } from './ratio-chart.js';
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
  varyOf,
  varyText,
  type VaryEntry,
} from './format.js';
