/**
 * gradlab figures: builders that return displayable figures (MIME bundles).
 *
 * ```ts
 * await gl.display(gl.plot.line({ series: { train: trainLoss, val: valLoss }, x: 'epoch', y: 'loss' }));
 * ```
 *
 * - Vega-Lite 2-D charts ({@link VegaLiteFigure}): `line`, `scatter`,
 *   `histogram`, `heatmap`, `bar`, `graph` (a computation graph from
 *   `gl.ag.graph(root)`), and `vegaLite(spec)` for your own spec.
 * - Plotly 3-D / interactive ({@link PlotlyFigure}): `surface`, `contour`,
 *   and `plotly(data, layout)`; plotly.js is inlined once per `plotlySession`.
 * - `liveTraining()`: an output that updates in place during a training loop.
 * - Explorables: `explore` on `line`, `scatter`, `heatmap` and `bar` binds a slider, dropdown or
 *   radio buttons to a field of precomputed rows (works without a kernel; see ./explore).
 *
 * Builders only return data; `gl.display` (src/display) sends it to Jupyter.
 */
export { VegaLiteFigure, vegaLite, VEGA_LITE_MIME, VEGA_LITE_SCHEMA } from './vegalite';
export type { ChartOptions, VegaLiteSpec } from './vegalite';
export type { XYInput, XYSeries, NonFinitePolicy } from './series';
export type { ExploreControl, ExploreOption } from './explore';
export { line } from './line';
export type { LineOptions } from './line';
export { scatter } from './scatter';
export type { ScatterOptions } from './scatter';
export { histogram } from './histogram';
export type { HistogramOptions } from './histogram';
export { heatmap } from './heatmap';
export type { HeatmapOptions, Matrix2D } from './heatmap';
export { bar } from './bar';
export type { BarOptions } from './bar';
export { PlotlyFigure, PlotlySession, plotly, plotlySession, PLOTLY_MIME } from './plotly';
export type { PlotlyTrace } from './plotly';
export { surface, contour } from './surface';
export type { SurfaceOptions, Trajectory } from './surface';
export { LiveTraining, liveTraining, liveState, recordPoint, liveBundle } from './live';
export type { LiveTrainingOptions, LiveState, TrainingPoint } from './live';
export { graph, layoutGraph } from './graph';
export type { GraphOptions, GraphPlotInput, GraphPlotNode, GraphPlacement, GraphLayout } from './graph';
