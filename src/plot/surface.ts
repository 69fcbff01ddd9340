/**
 * Loss surfaces and contours with optimizer trajectories drawn on top.
 *
 * Grid convention (Plotly's): `z[i][j]` is the height at `(x[j], y[i])`, so
 * `z` has `y.length` rows of `x.length` values. `z` may also be a function
 * `(x, y) => loss`, evaluated on the grid (and on trajectory points).
 */
import { PlotlyFigure, type PlotlyTrace } from './plotly';

/** A named polyline, e.g. the iterates of one optimizer. */
export interface Trajectory {
  /** Legend name, e.g. 'SGD lr=0.1'. */
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Heights for `surface`; default: z(x, y) from the function, or interpolated from the grid. */
  z?: ArrayLike<number>;
}

/** Options of {@link surface} and {@link contour}. */
export interface SurfaceOptions {
  /** Grid x coordinates, increasing. */
  x: ArrayLike<number>;
  /** Grid y coordinates, increasing. */
  y: ArrayLike<number>;
  /** Heights `z[i][j]` at `(x[j], y[i])`, or a function `(x, y) => height`. */
  z: ArrayLike<number>[] | ((x: number, y: number) => number);
  /** Paths drawn over the surface, one trace each. Default none. */
  trajectories?: Trajectory[];
  /** Figure title. Default none. */
  title?: string;
  /** X axis title. Default 'x'. */
  xTitle?: string;
  /** Y axis title. Default 'y'. */
  yTitle?: string;
  /** Height (z) axis and colorbar title. Default 'loss'. */
  zTitle?: string;
  /** Plotly colorscale name. Default 'Viridis'. */
  colorscale?: string;
  /** Figure height in pixels. Default 500. */
  height?: number;
}

/**
 * A 3-D loss surface, with each trajectory as a line of markers on it.
 * Non-finite heights become gaps (`null`).
 *
 * ```ts
 * const g = Array.from({ length: 41 }, (_, i) => -2 + i / 10);
 * gl.plot.surface({ x: g, y: g, z: (a, b) => a * a + 10 * b * b,
 *                   trajectories: [{ name: 'SGD', x: xs, y: ys }, { name: 'Adam', x: xa, y: ya }] });
 * ```
 * Used in notebooks/02-optim (SGD, momentum and Adam on an ill-conditioned bowl).
 */
export function surface(opts: SurfaceOptions): PlotlyFigure {
  return build('surface', opts);
}

/**
 * The same loss surface seen from above as contour lines, trajectories as 2-D paths.
 *
 * ```ts
 * gl.plot.contour({ x: g, y: g, z: rosenbrock, trajectories: [{ name: 'momentum', x: xs, y: ys }] });
 * ```
 * Used in notebooks/02-optim (why momentum helps in a narrow valley).
 */
export function contour(opts: SurfaceOptions): PlotlyFigure {
  return build('contour', opts);
}

function build(kind: 'surface' | 'contour', opts: SurfaceOptions): PlotlyFigure {
  const { title, xTitle = 'x', yTitle = 'y', zTitle = 'loss', colorscale = 'Viridis', height = 500 } = opts;
  const xs = Array.from(opts.x ?? []);
  const ys = Array.from(opts.y ?? []);
  if (xs.length < 2 || ys.length < 2) {
    throw new Error(`${kind}: 'x' and 'y' need at least 2 grid values each (got ${xs.length} and ${ys.length})`);
  }
  const f = typeof opts.z === 'function' ? opts.z : undefined;
  if (!f && !Array.isArray(opts.z)) {
    throw new Error(`${kind}: 'z' must be number[][] (z[i][j] at (x[j], y[i])) or a function (x, y) => z`);
  }
  const z = f ? ys.map((b) => xs.map((a) => f(a, b))) : (opts.z as ArrayLike<number>[]).map((r) => Array.from(r));
  if (z.length !== ys.length || z.some((r) => r.length !== xs.length)) {
    const bad = z.findIndex((r) => r.length !== xs.length);
    throw new Error(
      `${kind}: 'z' must have y.length = ${ys.length} rows of x.length = ${xs.length} values ` +
        `(z[i][j] is the height at (x[j], y[i])); got ${z.length} rows` +
        (bad >= 0 ? `, row ${bad} has ${z[bad].length}` : ''),
    );
  }
  const height3d = (t: Trajectory, i: number) => (t.z ? t.z[i] : f ? f(t.x[i], t.y[i]) : bilinear(xs, ys, z, t.x[i], t.y[i]));
  const paths: PlotlyTrace[] = (opts.trajectories ?? []).map((t, k) => {
    const where = `${kind}: trajectories[${k}] (${JSON.stringify(t?.name)})`;
    if (!t || typeof t.name !== 'string' || !t.x || !t.y) throw new Error(`${where} needs { name, x, y }`);
    if (t.x.length !== t.y.length || (t.z && t.z.length !== t.x.length)) {
      throw new Error(`${where}: x, y${t.z ? ', z' : ''} have ${t.x.length}, ${t.y.length}${t.z ? ', ' + t.z.length : ''} values; they must be equal`);
    }
    const common = { name: t.name, x: Array.from(t.x), y: Array.from(t.y), mode: 'lines+markers' };
    return kind === 'contour'
      ? { ...common, type: 'scatter', marker: { size: 5 }, line: { width: 2 } }
      : { ...common, type: 'scatter3d', z: Array.from(t.x, (_, i) => height3d(t, i)), marker: { size: 3 }, line: { width: 5 } };
  });
  const grid: PlotlyTrace = { type: kind, name: zTitle, x: xs, y: ys, z, colorscale, colorbar: { title: { text: zTitle } } };
  const axes = kind === 'surface'
    ? { scene: { xaxis: { title: { text: xTitle } }, yaxis: { title: { text: yTitle } }, zaxis: { title: { text: zTitle } } } }
    : { xaxis: { title: { text: xTitle } }, yaxis: { title: { text: yTitle } } };
  const layout = { ...(title ? { title: { text: title } } : {}), ...axes, height, showlegend: paths.length > 0, legend: { x: 0, y: 1 } };
  const gaps = z.reduce((n, r) => n + r.filter((v) => !Number.isFinite(v)).length, 0);
  const names = paths.map((p) => JSON.stringify(p.name)).join(', ');
  const summary = `<Plotly ${kind}: ${xs.length}x${ys.length} grid, ${paths.length} trajectories` +
    `${names ? ' (' + names + ')' : ''}${title ? `; title ${JSON.stringify(title)}` : ''}` +
    `${gaps ? `; ${gaps} non-finite heights shown as gaps` : ''}>`;
  return new PlotlyFigure([grid, ...paths], layout, {}, summary);
}

/** Height at (a, b) interpolated between the four surrounding grid points (clamped to the grid). */
export function bilinear(xs: number[], ys: number[], z: number[][], a: number, b: number): number {
  const cell = (g: number[], v: number) => {
    let i = 0;
    while (i < g.length - 2 && v > g[i + 1]) i++;
    const t = Math.min(1, Math.max(0, (v - g[i]) / (g[i + 1] - g[i])));
    return [i, t] as const;
  };
  const [j, tx] = cell(xs, a);
  const [i, ty] = cell(ys, b);
  const lerp = (r: number[]) => r[j] * (1 - tx) + r[j + 1] * tx;
  return lerp(z[i]) * (1 - ty) + lerp(z[i + 1]) * ty;
}
