// The chart of estimated time against concurrency: inline SVG, no library. It shows the
// p50 line with its p10–p90 band, the closed-form bound, the concurrency asked for, and
// the point from which more concurrency stops helping.

import { LIMIT_NAMES } from './common.js';

const WIDTH = 640;
const HEIGHT = 280;
const MARGIN = { top: 18, right: 18, bottom: 38, left: 56 };
const SVG = 'http://www.w3.org/2000/svg';

/** Concurrency values worth plotting around `current`: 1, 2, 3, 4, 6, 8, 12, 16, … */
export function concurrencySteps(current, max = 1024) {
  const top = Math.min(max, Math.max(64, current * 8));
  const steps = new Set([current, 1, 3]);
  for (let c = 2; c <= top; c *= 2) {
    steps.add(c);
    if (c >= 4) steps.add((c * 3) / 2);
  }
  return [...steps].filter((c) => c >= 1 && c <= top).sort((a, b) => a - b);
}

/** A tick label: `45 s`, `12 min`, `3.5 h`. */
function tickLabel(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}

/**
 * The point from which more concurrency stops helping: the first whose p50 is within 5%
 * of the best, with what binds there. `points` are `{ concurrency, time }` in order.
 */
export function knee(points) {
  const best = Math.min(...points.map((point) => point.time.p50Seconds));
  return points.find((point) => point.time.p50Seconds <= best * 1.05);
}

function element(name, attributes = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Draws `points` into `container`, marking `current`; returns the knee point. */
export function drawChart(container, points, current) {
  const xs = points.map((point) => point.concurrency);
  const top = Math.max(...points.map((point) => point.time.p90Seconds)) * 1.08 || 1;
  const logMin = Math.log(xs[0]);
  const logMax = Math.log(xs.at(-1)) || 1;
  const x = (c) =>
    MARGIN.left +
    ((Math.log(c) - logMin) / (logMax - logMin || 1)) * (WIDTH - MARGIN.left - MARGIN.right);
  const y = (seconds) =>
    HEIGHT - MARGIN.bottom - (seconds / top) * (HEIGHT - MARGIN.top - MARGIN.bottom);

  const svg = element('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': 'estimated time against concurrency',
  });
  svg.append(
    element('line', {
      class: 'axis',
      x1: MARGIN.left,
      x2: WIDTH - MARGIN.right,
      y1: y(0),
      y2: y(0),
    }),
    element('line', { class: 'axis', x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: y(0) }),
  );
  for (let i = 1; i <= 4; i += 1) {
    const seconds = (top / 4) * i;
    svg.append(
      element('line', {
        class: 'axis',
        x1: MARGIN.left,
        x2: WIDTH - MARGIN.right,
        y1: y(seconds),
        y2: y(seconds),
        opacity: 0.5,
      }),
      element(
        'text',
        { class: 'tick', x: MARGIN.left - 8, y: y(seconds) + 4, 'text-anchor': 'end' },
        tickLabel(seconds),
      ),
    );
  }
  const labelled = xs.filter((c, i) => i === 0 || i === xs.length - 1 || (c & (c - 1)) === 0);
  for (const c of labelled) {
    svg.append(
      element('text', { class: 'tick', x: x(c), y: y(0) + 16, 'text-anchor': 'middle' }, `${c}`),
    );
  }
  svg.append(
    element(
      'text',
      {
        class: 'tick',
        x: (MARGIN.left + WIDTH - MARGIN.right) / 2,
        y: HEIGHT - 4,
        'text-anchor': 'middle',
      },
      'attempts in flight (concurrency)',
    ),
  );

  const line = (pick) =>
    points.map((p) => `${x(p.concurrency).toFixed(1)},${y(pick(p)).toFixed(1)}`).join(' ');
  const band = `${line((p) => p.time.p90Seconds)} ${points
    .slice()
    .reverse()
    .map((p) => `${x(p.concurrency).toFixed(1)},${y(p.time.p10Seconds).toFixed(1)}`)
    .join(' ')}`;
  svg.append(
    element('polygon', { class: 'band', points: band }),
    element('polyline', { class: 'bound', points: line((p) => p.time.boundSeconds) }),
    element('polyline', { class: 'p50', points: line((p) => p.time.p50Seconds) }),
  );

  const flat = knee(points);
  if (flat && flat.concurrency < xs.at(-1)) {
    const limit = flat.time.bindingLimit;
    const why = limit === 'concurrency' ? 'more barely helps' : `${LIMIT_NAMES[limit]} binds`;
    const anchor = x(flat.concurrency) > WIDTH * 0.7 ? 'end' : 'start';
    const offset = anchor === 'end' ? -6 : 6;
    svg.append(
      element('line', {
        class: 'knee',
        x1: x(flat.concurrency),
        x2: x(flat.concurrency),
        y1: MARGIN.top,
        y2: y(0),
      }),
      element(
        'text',
        {
          class: 'knee-label',
          x: x(flat.concurrency) + offset,
          y: MARGIN.top + 12,
          'text-anchor': anchor,
        },
        `from ${flat.concurrency}: ${why}`,
      ),
    );
  }
  const here = points.find((point) => point.concurrency === current);
  if (here) {
    svg.append(
      element('circle', { class: 'current', cx: x(current), cy: y(here.time.p50Seconds), r: 6 }),
    );
  }
  container.replaceChildren(svg);
  return flat;
}
