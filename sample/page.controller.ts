import { Controller, Get, Header, NotFoundException, Param } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Source tree paths, valid from both sample/ (ts) and dist/sample/ (built). */
const root = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));
const CLIENT_FILES = new Set(['index.js', 'auth-client.js', 'auth-errors.js']);

/** Serves the chat page and the client helper as plain ES modules: no front-end build step. */
@Controller()
export class PageController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  index(): Promise<string> {
    return readFile(`${root}sample/public/index.html`, 'utf8');
  }

  @Get('client/:file')
  @Header('content-type', 'text/javascript; charset=utf-8')
  async client(@Param('file') file: string): Promise<string> {
    if (!CLIENT_FILES.has(file)) throw new NotFoundException();
    return readFile(`${root}dist/lib/client/${file}`, 'utf8').catch(() => {
      throw new NotFoundException();
    });
  }
}
