// The result view of the page of `fer-dag serve`: the faces found drawn over the video in step with
// playback, a timeline per person, the share of each emotion and the downloads. app.js shows it.
import { $, colourOf, el, inkOn, state } from './shared.js';

const BAR_WIDTH = 1000; // timeline viewBox width; stretched to the element's width
const SVG_NS = 'http://www.w3.org/2000/svg';

const svgEl = (tag, attrs, text) => el(tag, attrs, text, SVG_NS);

const percent = (share) => Math.round(share * 100);
const formatShare = (share) => (share > 0 && share < 0.005 ? '<1 %' : `${percent(share)} %`);

// ---- the result view -----------------------------------------------------------

export function resetView() {
  const player = $('player');
  if (player instanceof HTMLVideoElement) {
    player.pause();
    player.removeAttribute('src');
    player.load(); // lets the browser drop its decoder now rather than at garbage collection
  }
  player?.remove();
  state.view = null; // ends the old player's sync loop
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = null;
  for (const id of ['overlay', 'timelines', 'shares', 'legend']) $(id).replaceChildren();
  for (const id of ['download-json', 'download-csv']) $(id).removeAttribute('href');
  $('summary').textContent = '';
  $('stage').removeAttribute('style');
  $('player-note').hidden = true;
  $('details').hidden = true;
  $('result').hidden = true;
}

export function showResult(result, file) {
  const frames = [...(result.frames || [])].sort((a, b) => a.t - b.t);
  $('result').hidden = false;
  if (!frames.some((frame) => frame.faces.length > 0)) {
    $('summary').textContent = `No faces were found in ${result.name}.`;
    return;
  }
  const fps = result.fps || Number($('fps').value) || state.info.defaultFps;
  const { width, height } = result;
  const view = { result, frames, fps, width, height, shown: undefined, time: 0, heads: [] };
  state.view = view;
  state.url = URL.createObjectURL(file);
  $('summary').textContent = summaryOf(view);
  $('details').hidden = false;
  mountPlayer(view);
  renderLegend(result.classes || state.info.classes);
  renderTimelines(view);
  renderShares(result);
  setDownloads(result);
  sync(view); // draw the first frame now: a headless browser may never get to play the video
}

function summaryOf({ result, frames, fps }) {
  const count = result.people.length;
  const people = `${count} ${count === 1 ? 'person' : 'people'}`;
  const where = result.kind === 'image'
    ? `${people} in the image`
    : `${people}, ${frames.length} frames analysed at ${fps} fps over ${Number(result.duration).toFixed(1)} s`;
  return `${result.name}: ${where}; model ${result.model}.`;
}

// Size the stage to the recording's aspect ratio, so the player fills it without
// letterboxing and percentages of the stage are percentages of the picture.
function fitStage(width, height) {
  if (!width || !height) return;
  const stage = $('stage');
  stage.style.aspectRatio = `${width} / ${height}`;
  stage.style.maxWidth = `calc(70vh * ${width / height})`; // keeps portrait videos on screen
}

function mountPlayer(view) {
  const isVideo = view.result.kind !== 'image';
  const player = isVideo ? el('video', { id: 'player', playsinline: '', preload: 'auto' })
    : el('img', { id: 'player', alt: `${view.result.name}, with the faces found` });
  if (isVideo) Object.assign(player, { controls: true, muted: true });
  // The result's width/height place the boxes; the file's own size stands in only when they are missing.
  player.addEventListener(isVideo ? 'loadedmetadata' : 'load', () => {
    if (view.width && view.height) return;
    const natural = isVideo ? [player.videoWidth, player.videoHeight] : [player.naturalWidth, player.naturalHeight];
    [view.width, view.height] = natural;
    view.shown = undefined; // the boxes can be placed now: redraw them
    fitStage(view.width, view.height);
    sync(view);
  });
  player.src = state.url;
  $('stage').prepend(player);
  view.player = player;
  fitStage(view.width, view.height);
  if (isVideo) followVideo(view, player);
}

function followVideo(view, video) {
  const redraw = () => sync(view);
  // Paused, seeking or before playback no frame callbacks come: these events keep the overlay right.
  for (const type of ['loadedmetadata', 'seeking', 'seeked', 'timeupdate', 'pause']) video.addEventListener(type, redraw);
  video.addEventListener('error', () => {
    view.unplayable = true; // timelines then move a time of our own (view.time)
    $('player-note').hidden = false;
  });
  // While playing, follow every presented frame, or every animation frame where rVFC is missing.
  const schedule = 'requestVideoFrameCallback' in video
    ? () => video.requestVideoFrameCallback(tick)
    : () => requestAnimationFrame(tick);
  function tick() {
    if (state.view !== view) return; // the view was reset: stop
    sync(view);
    schedule();
  }
  schedule();
}

const currentTime = (view) => (view.player instanceof HTMLVideoElement && !view.unplayable
  ? view.player.currentTime : view.time);

function seek(view, time) {
  if (view.player instanceof HTMLVideoElement && !view.unplayable) view.player.currentTime = time;
  else view.time = time;
  sync(view);
}

// The index of the frame to show at time t: the last sample at or before t, held until
// the next one, but none once it is over 1.5 sampling periods old (a gap, or past the end).
function frameAt(frames, t, fps) {
  let lo = 0;
  let hi = frames.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (frames[mid].t <= t + 1e-3) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  if (found < 0) return frames.length > 0 && frames[0].t - t <= 1 / fps ? 0 : -1; // just before the first sample
  return t - frames[found].t <= 1.5 / fps ? found : -1;
}

function sync(view) {
  if (state.view !== view) return;
  const t = currentTime(view);
  const index = frameAt(view.frames, t, view.fps);
  if (index !== view.shown) { // rebuild the overlay only when the frame changes, not 60 times a second
    view.shown = index;
    $('overlay').replaceChildren(...(index < 0 ? [] : view.frames[index].faces.map((face) => faceBox(face, view))));
  }
  moveHeads(view, t);
}

function faceBox(face, { width, height }) {
  if (!width || !height) return document.createComment('size unknown until the file loads');
  const [x, y, w, h] = face.box;
  const colour = colourOf(face.emotion);
  const box = el('div', { class: 'face-box', 'data-person': face.person, 'data-emotion': face.emotion });
  Object.assign(box.style, {
    left: `${(x / width) * 100}%`, top: `${(y / height) * 100}%`,
    width: `${(w / width) * 100}%`, height: `${(h / height) * 100}%`,
  });
  box.style.setProperty('--colour', colour);
  box.style.setProperty('--ink', inkOn(colour));
  // Keep the label on the picture: inside the box at the top edge, flush right near the right edge.
  if (y / height < 0.08) box.classList.add('label-inside');
  if ((x + w) / width > 0.8) box.classList.add('label-right');
  box.append(el('span', { class: 'face-label' }, `P${face.person} ${face.emotion} ${percent(face.score)}%`));
  return box;
}

function renderLegend(classes) {
  $('legend').replaceChildren(...classes.map((name) => {
    const item = el('li', { 'data-emotion': name });
    const swatch = el('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = colourOf(name);
    item.append(swatch, document.createTextNode(name));
    return item;
  }));
}

// The span the timelines cover: the whole recording; for an image, one sampling period.
function spanOf(view) {
  return view.result.duration > 0 ? view.result.duration : view.frames[view.frames.length - 1].t + 1 / view.fps;
}

function renderTimelines(view) {
  const span = spanOf(view);
  $('timelines').replaceChildren(...view.result.people.map((person) => timeline(person, span, view)));
}

function timeline(person, span, view) {
  const isVideo = view.result.kind !== 'image';
  const share = (person.shares && person.shares[person.emotion]) || 0;
  const root = el('div', { class: 'timeline', 'data-person': person.person });
  const label = el('div', { class: 'timeline-label' }, `P${person.person} — mostly ${person.emotion} (${percent(share)} %)`);
  if (isVideo) {
    label.append(el('span', { class: 'timeline-meta' },
      ` seen ${person.first.toFixed(1)}–${person.last.toFixed(1)} s in ${person.frames} frames`));
  }
  const segments = person.timeline || [];
  const description = segments.map((s) => `${s.emotion} ${s.from.toFixed(1)}–${s.to.toFixed(1)} s`).join(', ');
  const bar = svgEl('svg', {
    class: 'timeline-bar', viewBox: `0 0 ${BAR_WIDTH} 24`, preserveAspectRatio: 'none',
    role: 'img', 'aria-label': `P${person.person}: ${description}`,
  });
  bar.append(svgEl('rect', { class: 'track', x: 0, y: 0, width: BAR_WIDTH, height: 24 }));
  for (const segment of segments) bar.append(segmentRect(segment, span, view.fps));
  root.append(label, bar);
  if (!isVideo) return root;

  const head = svgEl('line', { class: 'playhead', x1: 0, x2: 0, y1: 0, y2: 24 });
  bar.append(head);
  view.heads.push(head);
  bar.addEventListener('click', (event) => {
    const rect = bar.getBoundingClientRect();
    seek(view, Math.min(Math.max((event.clientX - rect.left) / rect.width, 0), 1) * span);
  });
  return root;
}

// A segment of one sample has from == to; it still gets one sampling period of width to be visible.
function segmentRect(segment, span, fps) {
  const to = Math.max(segment.to, segment.from + 1 / fps);
  const rect = svgEl('rect', {
    x: (segment.from / span) * BAR_WIDTH, y: 0, width: ((to - segment.from) / span) * BAR_WIDTH, height: 24,
    fill: colourOf(segment.emotion), 'data-emotion': segment.emotion,
  });
  rect.append(svgEl('title', {}, `${segment.emotion}, ${segment.from.toFixed(1)}–${segment.to.toFixed(1)} s`));
  return rect;
}

function moveHeads(view, t) {
  if (view.headTime === t) return;
  view.headTime = t;
  const x = Math.min(t / spanOf(view), 1) * BAR_WIDTH;
  for (const head of view.heads) { head.setAttribute('x1', x); head.setAttribute('x2', x); }
}

function renderShares(result) {
  const classes = result.classes || Object.keys(result.emotions || {});
  const rows = classes.map((name) => [name, (result.emotions && result.emotions[name]) || 0])
    .sort((a, b) => b[1] - a[1]);
  $('shares').replaceChildren(...rows.map(([name, share]) => {
    const row = el('div', { class: 'share', 'data-emotion': name });
    const track = el('span', { class: 'share-track', 'aria-hidden': 'true' });
    const fill = el('span', { class: 'share-fill' });
    Object.assign(fill.style, { width: `${share * 100}%`, background: colourOf(name) });
    track.append(fill);
    row.append(el('span', { class: 'share-name' }, name), track, el('span', { class: 'share-value' }, formatShare(share)));
    return row;
  }));
}

function setDownloads(result) {
  const stem = result.name.replace(/\.[^.]*$/, '') || 'result';
  for (const kind of ['json', 'csv']) {
    const link = $(`download-${kind}`);
    link.href = result.downloads[kind];
    link.download = `${stem}-expressions.${kind}`;
  }
}
