import { Controller, Get, Header, NotFoundException } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Source tree root, valid from both sample/ (ts) and dist/sample/ (built). */
const root = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

function read(path: string): Promise<string> {
  return readFile(`${root}${path}`, 'utf8').catch(() => {
    throw new NotFoundException();
  });
}

/**
 * Serves the chat page, its script and style, and the client helper as plain
 * ES modules: no front-end build step. Fixed routes: no path comes from the request.
 */
@Controller()
export class PageController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  index(): Promise<string> {
    return read('sample/public/index.html');
  }

  @Get('app/app.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  script(): Promise<string> {
    return read('sample/public/app.js');
  }

  @Get('app/style.css')
  @Header('content-type', 'text/css; charset=utf-8')
  style(): Promise<string> {
    return read('sample/public/style.css');
  }

  /** nestjs-socket-auth/client, compiled by the build that `npm start` runs first. */
  @Get('client/index.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  client(): Promise<string> {
    return read('dist/lib/client/index.js');
  }
}
