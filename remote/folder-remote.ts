import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RemoteBackend } from './backend.js';

/**
 * A remote in a folder (a shared NFS or SMB mount). Every write goes to `tmp/` beside the objects and is
 * renamed into place, so a reader never sees half an object; a record is linked into place, which fails when
 * one is there, so the first writer wins even between machines sharing the mount.
 */
export class FolderRemote implements RemoteBackend {
  constructor(
    readonly label: string,
    private readonly root: string,
  ) {}

  has(rel: string): Promise<boolean> {
    return Promise.resolve(fs.statSync(this.file(rel), { throwIfNoEntry: false })?.isFile() ?? false);
  }

  async get(rel: string): Promise<Buffer | undefined> {
    try {
      return await fs.promises.readFile(this.file(rel));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async put(rel: string, data: Buffer): Promise<void> {
    const temp = await this.writeTemp(data);
    const target = this.file(rel);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    await fs.promises.rename(temp, target);
  }

  async putNew(rel: string, data: Buffer): Promise<'written' | 'exists'> {
    const temp = await this.writeTemp(data);
    const target = this.file(rel);
    try {
      await fs.promises.mkdir(path.dirname(target), { recursive: true });
      await fs.promises.link(temp, target);
      return 'written';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      throw error;
    } finally {
      await fs.promises.rm(temp, { force: true });
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private file(rel: string): string {
    return path.join(this.root, ...rel.split('/'));
  }

  private async writeTemp(data: Buffer): Promise<string> {
    const dir = path.join(this.root, 'tmp');
    await fs.promises.mkdir(dir, { recursive: true });
    const temp = path.join(dir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    const handle = await fs.promises.open(temp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return temp;
  }
}
