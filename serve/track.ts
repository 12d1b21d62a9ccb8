/** A face box in pixels: [x, y, width, height]. */
export type Box = [number, number, number, number];

/** The area two [x, y, w, h] boxes share. */
export function intersection(a: Box, b: Box): number {
  const x = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const y = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  return x * y;
}

export function iou(a: Box, b: Box): number {
  const inter = intersection(a, b);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

interface Track {
  person: number;
  box: Box;
  lastFrame: number;
}

/**
 * Links faces across sampled frames into people by box overlap: each face joins the track whose last box
 * it overlaps most (IoU at least `minOverlap`), best pairs first, each track taking at most one face per
 * frame. A track survives `maxGap` frames without a face (a turned head, a missed detection) before a
 * face in its place counts as someone new. People are numbered from 1 in order of first appearance.
 */
export class FaceTracker {
  private readonly tracks: Track[] = [];
  private nextPerson = 1;

  constructor(
    private readonly minOverlap = 0.3,
    private readonly maxGap = 5,
  ) {}

  assign(frame: number, boxes: readonly Box[]): number[] {
    const live = this.tracks.filter((t) => frame - t.lastFrame <= this.maxGap + 1);
    const pairs: Array<{ face: number; track: Track; overlap: number }> = [];
    boxes.forEach((box, face) => {
      for (const track of live) {
        const overlap = iou(box, track.box);
        if (overlap >= this.minOverlap) pairs.push({ face, track, overlap });
      }
    });
    // Ties go to the track seen most recently, then to the lower person number: the result does not depend on order.
    pairs.sort(
      (a, b) => b.overlap - a.overlap || b.track.lastFrame - a.track.lastFrame || a.track.person - b.track.person,
    );
    const people = new Array<number>(boxes.length).fill(0);
    const taken = new Set<Track>();
    for (const { face, track } of pairs) {
      if (people[face] || taken.has(track)) continue;
      people[face] = track.person;
      taken.add(track);
      track.box = boxes[face] as Box;
      track.lastFrame = frame;
    }
    boxes.forEach((box, face) => {
      if (people[face]) return;
      const track = { person: this.nextPerson++, box, lastFrame: frame };
      this.tracks.push(track);
      people[face] = track.person;
    });
    return people;
  }
}
